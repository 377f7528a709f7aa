// Portable multiply-add throughput loop: what the portable kernels can reach. GCC/Clang vector
// extensions (4 lanes: SSE2 on baseline x86-64, NEON on aarch64), 12 independent accumulators;
// without -mfma the compiler emits a multiply and an add (2 FLOPs per lane either way).
#include "cpu/fma_peak.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#if defined(__GNUC__) || defined(__clang__)

typedef float v4f __attribute__((vector_size(16)));

float fma_peak_loop_f32(int64_t iters, int64_t* flops) {
  constexpr int kAcc = 12;
  const v4f m = {0.999f, 0.999f, 0.999f, 0.999f}, c = {0.001f, 0.001f, 0.001f, 0.001f};  // see fma_peak__avx512.cpp
  v4f acc[kAcc];
#pragma GCC unroll 12
  for (int i = 0; i < kAcc; ++i) acc[i] = v4f{0.0f, 1.0f, 2.0f, 3.0f} + static_cast<float>(i);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * m + c;
  }
  float total = 0.0f;
  for (int i = 0; i < kAcc; ++i) total += acc[i][0] + acc[i][1] + acc[i][2] + acc[i][3];
  *flops = iters * kAcc * 4 * 2;
  return total;
}

#else

float fma_peak_loop_f32(int64_t iters, int64_t* flops) {
  constexpr int kAcc = 16;
  float acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = static_cast<float>(i);
  const float m = 0.999f, c = 0.001f;
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * m + c;
  float total = 0.0f;
  for (float v : acc) total += v;
  *flops = iters * kAcc * 2;
  return total;
}

#endif

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
