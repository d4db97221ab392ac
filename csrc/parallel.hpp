// The one thread pool of lstmx: OpenMP. BLAS is pinned to one thread (module init), so every
// parallel region is ours and BLAS calls inside it never start threads of their own.
// Built without OpenMP, everything here degrades to one thread.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace lstmx {

// Team size the kernels use (lstmx.set_num_threads; default: OMP_NUM_THREADS or the cores).
int num_threads();
void set_num_threads(int n);

inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Part `p` of `n` items cut into `parts` contiguous pieces whose sizes differ by at most one.
inline void split_range(long n, int parts, int p, long& begin, long& end) {
  const long q = n / parts, r = n % parts;
  begin = p * q + (p < r ? p : r);
  end = begin + q + (p < r ? 1 : 0);
}

}  // namespace lstmx
