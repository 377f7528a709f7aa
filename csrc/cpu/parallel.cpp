// A small persistent thread pool behind parallel_for.
//
// Work is handed out in guided chunks through an atomic counter; the caller works too. The pool
// serves one parallel region at a time: a second caller (another Python thread) or a nested call
// runs its region inline rather than waiting. After fork() the child gets a fresh pool, because the
// parent's worker threads do not exist there.
//
// Waking a thread parked on a futex takes tens of microseconds here (more in a VM), and a training
// step of a small CNN runs dozens of regions a few microseconds apart. So the workers poll for the
// next region for a short while (kSpinBeforeSleep) after finishing one before they park, and the
// caller polls for the workers' end the same way before it sleeps. The bound keeps an idle pool from
// holding cores that other programs want.
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fastconv {
namespace {

int usable_cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

thread_local bool t_inside_region = false;

constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() until it holds or kSpinBeforeSleep has passed; returns whether it holds.
template <class Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return done();
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int num_threads() const { return num_threads_; }
  std::mutex& region_mutex() { return region_mutex_; }

  // Calls fn(lo, hi) over chunks covering [0, n), each at least `grain` long except the last.
  // Caller holds region_mutex().
  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      n_ = n;
      grain_ = grain;
      next_.store(0, std::memory_order_relaxed);
      finished_.store(0, std::memory_order_relaxed);
      error_ = nullptr;
      entry_.store(0, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work_on_chunks();
    // Every chunk is taken. Workers that have not joined yet (still waking from a park, or kept off
    // the cores by other processes) are shut out, and the caller waits only for those that joined:
    // a small region (packing filters, adding partial sums) otherwise cost the caller a worker's
    // wake-up, measured at 0.3-9 ms on a loaded 2-core machine against 0.1 ms of work.
    const int joined = static_cast<int>(entry_.fetch_or(kClosed, std::memory_order_acq_rel) & ~kClosed);
    auto all_done = [&] { return finished_.load(std::memory_order_acquire) == joined; };
    spin_until(all_done);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, all_done);
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Guided self-scheduling: each grab takes 1/(2 * threads) of what is left (at least grain), so
  // chunks start large (few grabs, long contiguous runs) and shrink to single units at the end,
  // where fixed chunks of n/(4 * threads) left one thread up to a whole chunk behind the other.
  // A thread that another process delays simply takes fewer chunks.
  void work_on_chunks() {
    t_inside_region = true;
    const int64_t divisor = 2 * static_cast<int64_t>(num_threads_);
    int64_t lo = next_.load(std::memory_order_relaxed);
    for (;;) {
      int64_t take = 0;
      do {
        if (lo >= n_) break;
        take = std::min(n_ - lo, std::max(grain_, (n_ - lo) / divisor));
      } while (!next_.compare_exchange_weak(lo, lo + take, std::memory_order_relaxed));
      if (lo >= n_) break;
      try {
        (*job_)(lo, lo + take);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_);  // stop handing out work
      }
      lo = next_.load(std::memory_order_relaxed);
    }
    t_inside_region = false;
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      auto next_region = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(next_region)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || next_region(); });
        if (stopping_) return;
      }
      seen = generation_.load(std::memory_order_acquire);
      // Join the current region unless its caller has closed it. A worker that read an older
      // generation but joins a newer region is counted there and serves it like any other.
      if (entry_.fetch_add(1, std::memory_order_acq_rel) & kClosed) continue;
      work_on_chunks();
      finished_.fetch_add(1, std::memory_order_acq_rel);
      // Taking the mutex orders this notify after a caller that found workers unfinished went to
      // sleep, so the wake-up cannot be lost.
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex region_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  bool stopping_ = false;
  std::atomic<uint64_t> generation_{0};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  // Workers that joined the current region (low bits) and kClosed once its caller stops admitting them.
  static constexpr int64_t kClosed = int64_t(1) << 40;
  std::atomic<int64_t> entry_{0};
  std::atomic<int> finished_{0};
  std::exception_ptr error_;
};

std::mutex g_pool_mutex;  // guards g_pool and g_requested_threads
std::shared_ptr<ThreadPool> g_pool;
int g_requested_threads = 0;  // 0 = usable cores

void reset_after_fork() {
  // The parent's workers do not exist in the child: drop the pool without joining them (leaking
  // its memory) and let the next parallel_for build a new one. The mutexes are re-created too,
  // in case another thread held them at the moment of fork.
  new (&g_pool_mutex) std::mutex();
  auto* stale = new std::shared_ptr<ThreadPool>(std::move(g_pool));
  (void)stale;
  g_pool = nullptr;
}

std::shared_ptr<ThreadPool> current_pool() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, reset_after_fork);
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  const int want = g_requested_threads > 0 ? g_requested_threads : usable_cores();
  if (!g_pool || g_pool->num_threads() != want) g_pool = std::make_shared<ThreadPool>(want);
  return g_pool;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  g_requested_threads = std::max(1, n);
}

int get_num_threads() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  return g_requested_threads > 0 ? g_requested_threads : usable_cores();
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  const int64_t n = end - begin;
  grain = std::max<int64_t>(1, grain);
  if (t_inside_region || n <= grain) {
    fn(begin, end);
    return;
  }
  std::shared_ptr<ThreadPool> pool = current_pool();
  std::unique_lock<std::mutex> region(pool->region_mutex(), std::try_to_lock);
  if (pool->num_threads() == 1 || !region.owns_lock()) {
    fn(begin, end);
    return;
  }
  pool->run(n, grain, [&](int64_t lo, int64_t hi) { fn(begin + lo, begin + hi); });
}

}  // namespace fastconv
