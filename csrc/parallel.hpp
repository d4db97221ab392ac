// The one thread pool of lstmx: OpenMP. BLAS is pinned to one thread (module init), so every
// parallel region is ours and BLAS calls inside it never start threads of their own.
// Built without OpenMP, everything here degrades to one thread.
#pragma once

#include <atomic>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
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

// A barrier for the time loops, where a team meets once per step, thousands of times per
// call: a counter and a generation on their own cache lines, spun on with pause. After a
// while without progress a waiter yields its core, so an oversubscribed machine (more
// threads than free cores) still makes progress instead of spinning out its time slices.
// Size it from inside the parallel region (OpenMP may grant fewer threads than asked for):
//   StepBarrier barrier;
//   #pragma omp parallel
//   { #pragma omp single
//     barrier.set_size(team_size());   // single's implied barrier publishes it
//     ... barrier.wait(); ... }
class StepBarrier {
 public:
  void set_size(int n) { n_ = n; }
  void wait() { wait(arrive()); }

  // wait() in two halves, so that a thread can do work that needs only its own results
  // between them: arrive() says "my part is done", wait(ticket) returns once all have
  // arrived.
  unsigned arrive() {
    const unsigned g = gen_.load(std::memory_order_relaxed);
    if (n_ <= 1) return g;
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(g + 1, std::memory_order_release);
    }
    return g;
  }
  void wait(unsigned ticket) {
    if (n_ <= 1) return;
    for (long spins = 0; gen_.load(std::memory_order_acquire) == ticket; ++spins) {
      if (spins < kSpins) pause();
      else std::this_thread::yield();
    }
  }

 private:
  static constexpr long kSpins = 20000;  // about 0.1-1 ms of pause instructions
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }
  int n_ = 1;
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<unsigned> gen_{0};
};

}  // namespace lstmx
