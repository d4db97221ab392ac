#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lstmx {

namespace {

int default_budget() {
#ifdef _OPENMP
  return std::max(1, omp_get_max_threads());
#else
  return 1;
#endif
}

// All policy state, behind one mutex: it is touched once at the start and once at the end of
// a call that can use 2+ threads, never inside the loops.
struct Policy {
  std::mutex mu;
  int budget = default_budget();
  int fixed = 0;   // 0: automatic
  int running = 0;   // calls running now (CallTeam objects alive)
  long started = 0;  // calls started so far
  Adaptive adaptive;
  Policy() { adaptive.reset(budget); }
};

Policy& policy() {
  static Policy* p = new Policy();  // never destroyed: calls may still run at exit
  return *p;
}

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

thread_local CallTeam* t_current = nullptr;

}  // namespace

// ---- policy ------------------------------------------------------------------------------

void set_cpu_budget(int n) {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  p.budget = std::max(1, n);
  p.adaptive.reset(p.budget);
}

int cpu_budget() {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  return p.budget;
}

void set_num_threads(int n) {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  p.fixed = std::max(0, n);
  if (n <= 0) p.adaptive.reset(p.budget);  // back to automatic: start from the budget
}

bool threads_automatic() {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  return p.fixed == 0;
}

int policy_threads() {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  return p.fixed > 0 ? p.fixed : p.adaptive.size();
}

int num_threads() {
  if (t_current) return t_current->size();
  return policy_threads();
}

namespace {
std::atomic<bool> g_cost_rule{true};
constexpr int kUncapped = 1 << 20;  // a call's useful threads when the rule is off
}  // namespace

void set_cost_rule(bool on) { g_cost_rule.store(on, std::memory_order_relaxed); }

int threads_for_region(double flops, int cap) {
  if (!g_cost_rule.load(std::memory_order_relaxed)) return std::max(1, std::min(cap, kUncapped));
  const double n = std::min(double(cap), flops / kRegionFlops);
  return std::max(1, int(n));
}

int threads_for_steps(double step_flops, long units, int cap) {
  if (!g_cost_rule.load(std::memory_order_relaxed)) return std::max(1, std::min(cap, kUncapped));
  const double n = std::min({double(cap), step_flops / kStepFlops, double(units / kStepUnits)});
  return std::max(1, int(n));
}

// ---- the adaptive size -------------------------------------------------------------------

void Adaptive::reset(int budget) {
  budget_ = std::max(1, budget);
  size_ = budget_;
  strikes_ = 0;
  probing_ = false;
  next_probe_ = 0.0;
  interval_ = kFirstProbe;
  last_grow_ = -1e300;
}

int Adaptive::size_for_call(int useful, double now, bool* probe) {
  *probe = false;
  if (size_ < budget_ && useful > size_ && !probing_ && now >= next_probe_) {
    probing_ = true;
    *probe = true;
    ++probes;
    return std::min(budget_, size_ + std::max(1, size_ / 2));
  }
  return size_;
}

void Adaptive::record(int n, double wait_fraction, bool probe, double now) {
  last_wait = wait_fraction;
  if (probe) {
    probing_ = false;
    if (wait_fraction < kGrowWait) {
      size_ = std::max(size_, n);
      ++grows;
      strikes_ = 0;
      last_grow_ = now;
      interval_ = kFirstProbe;  // quiet again: the next step up may follow soon
    } else {
      interval_ = std::min(2 * interval_, kLastProbe);
    }
    next_probe_ = now + interval_;
    return;
  }
  if (n != size_ || n <= 1) return;  // a team the policy did not choose (budget shared)
  if (wait_fraction <= kShrinkWait) {
    strikes_ = 0;
    return;
  }
  // One strongly oversubscribed loop is enough; a mildly slow one needs a second in a row.
  if (++strikes_ < 2 && wait_fraction < kShrinkAtOnce) return;
  strikes_ = 0;
  ++shrinks;
  size_ = std::max(1, std::min(n - 1, int(n * (1.0 - wait_fraction) + 0.5)));
  // Shrinking soon after growing means the machine is still busy: probe less often.
  interval_ = now - last_grow_ < 2 * interval_ ? std::min(2 * interval_, kLastProbe) : kFirstProbe;
  next_probe_ = now + interval_;
}

void Adaptive::cancel_probe(double now) {
  if (!probing_) return;
  probing_ = false;
  next_probe_ = now + interval_;
}

// ---- a call's team -----------------------------------------------------------------------

CallTeam::CallTeam(int useful, bool loop) {
  useful = std::max(1, useful);
  Policy& p = policy();
  {
    std::lock_guard<std::mutex> lk(p.mu);
    int target = 1;
    if (p.fixed > 0) target = std::min(useful, p.fixed);
    else if (!loop) target = std::min(useful, p.adaptive.size());
    else target = std::min(useful, p.adaptive.size_for_call(useful, seconds_now(), &probe_));
    // While other calls run (other Python threads), a call takes one thread, its caller's
    // own, and waits for nothing: one-thread calls side by side beat the same calls taking
    // turns with whole teams, where every turn goes through waking a sleeping caller.
    overlapped_ = p.running > 0;
    n_ = overlapped_ ? 1 : target;
    ++p.running;
    started_ = ++p.started;
    if (probe_ && n_ < target) {
      p.adaptive.cancel_probe(seconds_now());
      probe_ = false;
    }
  }
  prev_ = t_current;
  t_current = this;
}

CallTeam::~CallTeam() {
  t_current = prev_;
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  --p.running;
  // A call that overlapped others waited for its own process, not for a busy machine: the
  // adaptive size learns only from calls that ran alone.
  overlapped_ |= p.started != started_;
  if (p.fixed > 0) return;
  const double now = seconds_now();
  if (loop_n_ > 1 && loop_wall_ > 0 && !overlapped_)
    p.adaptive.record(loop_n_, loop_wait_ / (loop_n_ * loop_wall_), probe_, now);
  else if (probe_)
    p.adaptive.cancel_probe(now);
}

void CallTeam::record_loop(int n, double wait_ticks, double wall_ticks) {
  if (wall_ticks <= loop_wall_) return;
  loop_n_ = n;
  loop_wait_ = wait_ticks;
  loop_wall_ = wall_ticks;
}

CallTeam* CallTeam::current() { return t_current; }

PolicyStats policy_stats() {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  const Adaptive& a = p.adaptive;
  return {p.fixed == 0, p.budget, p.fixed > 0 ? p.fixed : a.size(), p.running,
          a.shrinks, a.grows, a.probes, a.last_wait};
}

void adaptive_feed(int n, double wait_fraction, bool probe, double now) {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  p.adaptive.record(n, wait_fraction, probe, now);
}

int adaptive_size_for_call(int useful, double now, bool* probe) {
  Policy& p = policy();
  std::lock_guard<std::mutex> lk(p.mu);
  return p.adaptive.size_for_call(useful, now, probe);
}

// ---- waiting -----------------------------------------------------------------------------

void wait_while_equal(std::atomic<unsigned>* addr, unsigned expected) {
#ifdef __linux__
  static_assert(sizeof(std::atomic<unsigned>) == sizeof(unsigned), "futex word");
  syscall(SYS_futex, reinterpret_cast<unsigned*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
#else
  if (addr->load(std::memory_order_acquire) == expected)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
#endif
}

void wake_all(std::atomic<unsigned>* addr) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<unsigned*>(addr), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
#else
  (void)addr;
#endif
}

StepBarrier::StepBarrier(int max_threads)
    : max_(std::max(1, max_threads)), waited_(new Slot[std::max(1, max_threads)]) {}

double StepBarrier::total_wait() const {
  double s = 0;
  for (int i = 0; i < max_; ++i) s += double(waited_[i].ticks);
  return s;
}

}  // namespace lstmx
