// The machine's float32 FMA throughput, measured: the denominator of the bench's "% of peak".
//
// Each ISA's loop runs many independent accumulators (more than FMA latency x FMA pipes), so it
// is bound by FMA issue rate alone, never by latency or memory. Zen 4 issues one 512-bit or two
// 256-bit FMAs per cycle: AVX-512 and AVX2 give the same peak there.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

// One ISA's loop: `iters` rounds over its accumulators. Returns a checksum (keeps the loop live)
// and sets *flops to the floating-point operations done (an FMA counts 2 per lane).
namespace scalar {
float fma_peak_loop_f32(int64_t iters, int64_t* flops);
}  // namespace scalar
namespace avx2 {
float fma_peak_loop_f32(int64_t iters, int64_t* flops);
}  // namespace avx2
namespace avx512 {
float fma_peak_loop_f32(int64_t iters, int64_t* flops);
}  // namespace avx512

// GFLOP/s of the selected ISA's loop (isa.h) on `threads` threads at once, each running the loop
// for about `seconds`: one chunk per thread on the pool (parallel.h), so `threads` should not
// exceed get_num_threads() (extra chunks queue and the result shows it). threads <= 0 means
// get_num_threads(). Wall time over the whole region: a thread that starts late lowers the result.
double fma_peak_gflops(double seconds, int threads);

}  // namespace cpu
}  // namespace fastconv
