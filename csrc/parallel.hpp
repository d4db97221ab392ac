// The one thread pool of lstmx (OpenMP) and the policy that sizes its teams.
//
// BLAS is pinned to one thread (module init), so every parallel region is ours and BLAS calls
// inside it never start threads of their own. Built without OpenMP, everything here degrades
// to one thread.
//
// How a call's team is chosen (one place; lstmx/threads.py documents it for users):
//   1. the size in force: fixed (set_num_threads(n)), or automatic: the CPU budget (the CPUs
//      this process may use: OMP_NUM_THREADS, else the affinity mask and the cgroup quota,
//      set from Python at import), shrunk while the kernels see their threads wait for
//      descheduled peers (Adaptive), grown back by probing when the machine is quiet again;
//   2. the cost rule: no more threads than the work can use (threads_for_region/_steps);
//   3. concurrent calls from several Python threads share the CPUs: a call that starts while
//      others run takes one thread (CallTeam).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <x86intrin.h>
#endif

namespace lstmx {

// ---- policy ------------------------------------------------------------------------------

// CPUs this process may use (>= 1). The automatic size never exceeds it.
void set_cpu_budget(int n);
int cpu_budget();
// n >= 1 fixes the team size; n == 0 returns to the automatic policy. Sizes above
// kMaxThreadsPerCpu per CPU are refused by the binding (the OpenMP runtime fails on them).
constexpr long kMaxThreadsPerCpu = 64;
void set_num_threads(int n);
bool threads_automatic();
// The size in force for the next call: the fixed size, or the automatic one.
int policy_threads();
// Inside a call (a CallTeam on this thread): the call's team size; else policy_threads().
int num_threads();

// The cost rule: threads a piece of work can use, at least 1, at most `cap`.
//  - a region that synchronises once (a GEMM, a pointwise pass): every thread gets at least
//    kRegionFlops of work, or a second thread costs more (waking it, the join) than it brings;
//  - a time loop with one barrier per step: every thread gets at least kStepFlops of the
//    step's product and kStepUnits hidden units (narrower slices leave the barrier dominant).
constexpr double kRegionFlops = 1.0e6;
constexpr double kStepFlops = 6.4e4;
constexpr long kStepUnits = 64;
int threads_for_region(double flops, int cap = INT_MAX);
// For the tests: with the rule off, every call and region takes its whole cap, so that small
// test shapes run on the multi-thread paths.
void set_cost_rule(bool on);
int threads_for_steps(double step_flops, long units, int cap = INT_MAX);

// ---- the adaptive size -------------------------------------------------------------------

// Decides the automatic size from what the time loops measure: the share of their threads'
// time spent waiting at step barriers. A team that waits more than kShrinkWait of its time is
// oversubscribed (a peer was descheduled), and the following calls use fewer threads. While
// below the budget, a call is run now and then (every probe interval, doubled after each
// failed probe) with a larger team; if that team waits less than kGrowWait, the size grows.
// Pure logic (time passed in), so the tests can drive it.
class Adaptive {
 public:
  static constexpr double kShrinkWait = 0.35;
  static constexpr double kShrinkAtOnce = 0.6;
  static constexpr double kGrowWait = 0.2;
  static constexpr double kFirstProbe = 0.5;  // seconds
  static constexpr double kLastProbe = 8.0;

  void reset(int budget);
  int size() const { return size_; }
  // The team a call that could use `useful` threads should ask for at time `now`; sets
  // *probe when that is a probe (a larger team than the size in force).
  int size_for_call(int useful, double now, bool* probe);
  // A call's time loop ran with n threads and waited `wait_fraction` of their time.
  void record(int n, double wait_fraction, bool probe, double now);
  // A probe that did not run as asked (fewer threads granted, or no measured loop).
  void cancel_probe(double now);

  long shrinks = 0, grows = 0, probes = 0;
  double last_wait = -1.0;

 private:
  int budget_ = 1, size_ = 1, strikes_ = 0;
  bool probing_ = false;
  double next_probe_ = 0.0, interval_ = kFirstProbe, last_grow_ = -1e300;
};

// ---- a call's team -----------------------------------------------------------------------

// Created by each native entry point with the GIL released, for the whole call: up to `useful`
// threads (capped by the size in force), or one while other calls are running (several Python
// threads calling lstmx share the CPUs instead of each taking all of them).
class CallTeam {
 public:
  // `loop`: the call runs a time loop that measures its barrier waits; only such calls may
  // serve as the adaptive policy's probes (a probe needs a measurement).
  explicit CallTeam(int useful, bool loop = false);
  ~CallTeam();
  CallTeam(const CallTeam&) = delete;
  CallTeam& operator=(const CallTeam&) = delete;
  int size() const { return n_; }
  // A time loop of this call: n threads, their summed barrier waits and the loop's wall time
  // (both in ticks()). The adaptive policy learns from the call's longest loop.
  void record_loop(int n, double wait_ticks, double wall_ticks);
  static CallTeam* current();

 private:
  int n_ = 1;
  bool probe_ = false, overlapped_ = false;
  long started_ = 0;
  int loop_n_ = 0;
  double loop_wait_ = 0.0, loop_wall_ = 0.0;
  CallTeam* prev_ = nullptr;
};

// A cheap monotonic tick counter (the TSC on x86) for measuring shares of time.
inline uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return 0;
#endif
}

// For the tests and benchmarks: the policy's state.
struct PolicyStats {
  bool automatic;
  int budget, size, running;
  long shrinks, grows, probes;
  double last_wait;
};
PolicyStats policy_stats();
// For the tests: feed the adaptive policy a measurement, as a time loop would.
void adaptive_feed(int n, double wait_fraction, bool probe, double now);
int adaptive_size_for_call(int useful, double now, bool* probe);

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

// Blocks the calling thread while *addr == expected (Linux futex; elsewhere a short sleep).
void wait_while_equal(std::atomic<unsigned>* addr, unsigned expected);
void wake_all(std::atomic<unsigned>* addr);

// A barrier for the time loops, where a team meets once per step, thousands of times per
// call: a counter and a generation on their own cache lines. A waiter spins briefly (a step's
// imbalance is short on a quiet machine), then sleeps on the generation (futex), so a thread
// whose peer was descheduled hands its core over instead of burning its time slice; the last
// arriver wakes the sleepers. Each thread's waiting time is counted for the adaptive policy.
// Size it from inside the parallel region (OpenMP may grant fewer threads than asked for):
//   StepBarrier barrier(nt);
//   #pragma omp parallel num_threads(nt)
//   { #pragma omp single
//     barrier.set_size(team_size());   // single's implied barrier publishes it
//     ... barrier.wait(); ... }
class StepBarrier {
 public:
  explicit StepBarrier(int max_threads);
  void set_size(int n) { n_ = n; }
  int size() const { return n_; }
  void wait() { wait(arrive()); }

  // wait() in two halves, so that a thread can do work that needs only its own results
  // between them: arrive() says "my part is done", wait(ticket) returns once all have
  // arrived.
  unsigned arrive() {
    const unsigned g = gen_.load(std::memory_order_relaxed);
    if (n_ <= 1) return g;
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(g + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all(&gen_);
    }
    return g;
  }
  void wait(unsigned ticket) {
    if (n_ <= 1 || gen_.load(std::memory_order_acquire) != ticket) return;
    const uint64_t t0 = ticks();
    for (int spins = 0; spins < kSpins; ++spins) {
      pause();
      if (gen_.load(std::memory_order_acquire) != ticket) {
        waited_[thread_index()].ticks += ticks() - t0;
        return;
      }
    }
    while (gen_.load(std::memory_order_acquire) == ticket) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      if (gen_.load(std::memory_order_seq_cst) == ticket) wait_while_equal(&gen_, ticket);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    waited_[thread_index()].ticks += ticks() - t0;
  }
  // Ticks all threads spent waiting (read after the parallel region).
  double total_wait() const;

 private:
  // Pause instructions before sleeping: tens of microseconds, more than a step's imbalance on
  // a quiet machine, far less than the time slice a descheduled peer is away for.
  static constexpr int kSpins = 4000;
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }
  struct alignas(64) Slot {
    uint64_t ticks = 0;
  };
  int n_ = 1, max_;
  std::unique_ptr<Slot[]> waited_;
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<unsigned> gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
};

// Runs a time loop's parallel region body and reports its barrier waits to the call's team:
//   LoopMeter meter(barrier);  ... #pragma omp parallel ... ;  meter.done();
class LoopMeter {
 public:
  explicit LoopMeter(const StepBarrier& b) : b_(b), t0_(ticks()) {}
  void done() {
    if (CallTeam* team = CallTeam::current())
      team->record_loop(b_.size(), b_.total_wait(), double(ticks() - t0_));
  }

 private:
  const StepBarrier& b_;
  uint64_t t0_;
};

}  // namespace lstmx
