// AVX-512 FMA throughput loop: 16 independent zmm accumulators (Zen 4: 1 zmm FMA per cycle at
// 4 cycles latency needs >= 4; Intel's 2 ports x 4 cycles need >= 8). Compiled with -mavx512f
// -mavx2 -mfma, called only where the CPU has them (isa.cpp).
#include <immintrin.h>

#include "cpu/fma_peak.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

float fma_peak_loop_f32(int64_t iters, int64_t* flops) {
  constexpr int kAcc = 16;
  // acc = acc * m + c converges to c / (1 - m) = 1: values stay finite and normal (no denormal
  // slow path) however long the loop runs, and the multiply depends on acc, so no compiler can
  // hoist it out of the loop.
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  __m512 acc[kAcc];
#pragma GCC unroll 16
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kAcc; ++i) sum = _mm512_add_ps(sum, acc[i]);
  *flops = iters * kAcc * 16 * 2;
  return _mm512_reduce_add_ps(sum);
}

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
