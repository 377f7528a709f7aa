// AVX-512 tile GEMM: 6 rows x 64 columns = 24 zmm accumulators; per j, 4 loads of B, 6 broadcasts
// of A, 24 FMAs. Compiled with -mavx512f -mavx512bw -mavx512vl -mfma, called only where the CPU
// has them (isa.cpp).
#include <immintrin.h>

#include "gemm.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#include "gemm_generic.inc"

namespace {

template <int ROWS, bool ACC>
inline void panel_6x64(int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m512 acc[ROWS][4];
  for (int i = 0; i < ROWS; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = ACC ? _mm512_loadu_ps(C + i * ldc + 16 * c) : _mm512_setzero_ps();
  for (int64_t j = 0; j < J; ++j) {
    const float* b = B + j * ldb;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32),
                 b3 = _mm512_loadu_ps(b + 48);
    const float* a = A + j * kPanelRows;
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
      acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
      acc[i][3] = _mm512_fmadd_ps(ai, b3, acc[i][3]);
    }
  }
  for (int i = 0; i < ROWS; ++i)
    for (int c = 0; c < 4; ++c) _mm512_storeu_ps(C + i * ldc + 16 * c, acc[i][c]);
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

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
