// AVX2 + FMA throughput loop: 12 independent ymm accumulators (2 FMA pipes x 4 cycles latency
// need >= 8), leaving room in the 16 ymm registers for the two constants. Compiled with -mavx2
// -mfma, called only where the CPU has them (isa.cpp).
#include <immintrin.h>

#include "cpu/fma_peak.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

float fma_peak_loop_f32(int64_t iters, int64_t* flops) {
  constexpr int kAcc = 12;
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);  // see fma_peak__avx512.cpp
  __m256 acc[kAcc];
#pragma GCC unroll 12
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAcc; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0.0f;
  for (float v : lanes) total += v;
  *flops = iters * kAcc * 8 * 2;
  return total;
}

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
