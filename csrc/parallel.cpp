#include "parallel.hpp"

#include <atomic>

namespace lstmx {

namespace {
std::atomic<int> g_threads{0};  // 0: not set, use the OpenMP default
}

int num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) { g_threads.store(n, std::memory_order_relaxed); }

}  // namespace lstmx
