// AVX2 + FMA tile GEMM: 6 rows x 16 columns = 12 ymm accumulators (16 registers in all), four
// column blocks per 64-pixel tile. Compiled with -mavx2 -mfma, called only where the CPU has them.
#include <immintrin.h>

#include "gemm.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#include "gemm_generic.inc"

namespace {

template <int ROWS, bool ACC>
inline void panel_6x16(int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m256 acc[ROWS][2];
  for (int i = 0; i < ROWS; ++i) {
    acc[i][0] = ACC ? _mm256_loadu_ps(C + i * ldc) : _mm256_setzero_ps();
    acc[i][1] = ACC ? _mm256_loadu_ps(C + i * ldc + 8) : _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < J; ++j) {
    const __m256 b0 = _mm256_loadu_ps(B + j * ldb), b1 = _mm256_loadu_ps(B + j * ldb + 8);
    const float* a = A + j * kPanelRows;
    for (int i = 0; i < ROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < ROWS; ++i) {
    _mm256_storeu_ps(C + i * ldc, acc[i][0]);
    _mm256_storeu_ps(C + i * ldc + 8, acc[i][1]);
  }
}

template <int ROWS, bool ACC>
inline void panel_6x64(int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t t0 = 0; t0 < kTilePixels; t0 += 16) panel_6x16<ROWS, ACC>(J, A, B + t0, ldb, C + t0, ldc);
}

}  // namespace

void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for_each_panel(M, J, A, C, ldc, [&](auto rows, const float* a, float* c) {
    panel_6x64<decltype(rows)::value, false>(J, a, B, ldb, c, ldc);
  });
}

void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc) {
  gemm_6x64_generic<double>(M, J, A, B, ldb, C, ldc);
}

void gemm_f32_6x64_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for_each_panel(M, J, A, C, ldc, [&](auto rows, const float* a, float* c) {
    panel_6x64<decltype(rows)::value, true>(J, a, B, ldb, c, ldc);
  });
}

void gemm_f64_6x64_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C,
                       int64_t ldc) {
  gemm_6x64_generic<double, true>(M, J, A, B, ldb, C, ldc);
}

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
