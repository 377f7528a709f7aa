// Routes fma_peak_gflops to the selected ISA's loop (isa.h) and times it on the pool.
#include "fma_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "isa.h"
#include "parallel.h"

namespace fastconv {
namespace cpu {

namespace {

using LoopFn = float (*)(int64_t, int64_t*);

LoopFn selected_loop() {
  switch (selected_isa()) {
#ifdef FASTCONV_HAVE_AVX512
    case Isa::avx512: return avx512::fma_peak_loop_f32;
#endif
#ifdef FASTCONV_HAVE_AVX2
    case Isa::avx2: return avx2::fma_peak_loop_f32;
#endif
    default: return scalar::fma_peak_loop_f32;
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::atomic<float> g_sink{0.0f};  // the loops' checksums land here, so none is optimised away

}  // namespace

double fma_peak_gflops(double seconds, int threads) {
  const LoopFn loop = selected_loop();
  if (threads <= 0) threads = get_num_threads();
  seconds = std::min(std::max(seconds, 1e-3), 10.0);

  // Calibrate on this thread: double the round count until one call takes >= 1/8 of the target
  // (and >= 1 ms), which also warms the core up to its FMA clock.
  int64_t iters = 1 << 12, flops = 0;
  double t = 0.0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    g_sink.store(loop(iters, &flops), std::memory_order_relaxed);
    t = seconds_since(t0);
    if (t >= std::max(seconds / 8, 1e-3) || iters >= (int64_t(1) << 40)) break;
    iters *= 2;
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * seconds / t));

  // One chunk per thread: parallel_for with grain 1 over `threads` items hands each item out as
  // its own chunk, and each item is `seconds` of work, so every pool thread takes one.
  std::vector<int64_t> done(static_cast<size_t>(threads), 0);
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      int64_t f = 0;
      g_sink.store(loop(iters, &f), std::memory_order_relaxed);
      done[static_cast<size_t>(i)] = f;
    }
  });
  const double wall = seconds_since(t0);
  double total = 0.0;
  for (int64_t f : done) total += static_cast<double>(f);
  return total / wall * 1e-9;
}

}  // namespace cpu
}  // namespace fastconv
