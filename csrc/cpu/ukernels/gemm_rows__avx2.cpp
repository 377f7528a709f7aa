// AVX2 + FMA row-pointer GEMM: 6 rows x 16 columns = 12 ymm accumulators (16 registers in all), four
// column blocks per 64 columns. Compiled with -mavx2 -mfma, called only where the CPU has them.
#include <immintrin.h>

#include <type_traits>

#include "gemm_rows.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#include "gemm_rows_generic.inc"

namespace {

template <int ROWS>
inline void rows_panel_6x16(int64_t J, const float* const* a, int64_t m0, const float* const* b, int64_t t0,
                            float* C, int64_t ldc) {
  __m256 acc[ROWS][2];
  for (int i = 0; i < ROWS; ++i) {
    acc[i][0] = _mm256_loadu_ps(C + i * ldc);
    acc[i][1] = _mm256_loadu_ps(C + i * ldc + 8);
  }
  for (int64_t j = 0; j < J; ++j) {
    const float* bj = b[j] + t0;
    const __m256 b0 = _mm256_loadu_ps(bj), b1 = _mm256_loadu_ps(bj + 8);
    const float* aj = a[j] + m0;
    for (int i = 0; i < ROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(aj + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < ROWS; ++i) {
    _mm256_storeu_ps(C + i * ldc, acc[i][0]);
    _mm256_storeu_ps(C + i * ldc + 8, acc[i][1]);
  }
}

}  // namespace

void gemm_rows_6x64_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C, int64_t ldc) {
  for_each_row_panel(M, [&](auto rows, int64_t m0) {
    for (int64_t t0 = 0; t0 < kRowsCols; t0 += 16)
      rows_panel_6x16<decltype(rows)::value>(J, a, m0, b, t0, C + m0 * ldc + t0, ldc);
  });
}

void gemm_rows_6x64_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C,
                        int64_t ldc) {
  gemm_rows_6x64_generic<double>(M, J, a, b, C, ldc);
}

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
