// AVX-512 row-pointer GEMM: 6 rows x 64 columns = 24 zmm accumulators; per j, two pointer loads,
// 4 loads of b[j], 6 broadcasts from a[j], 24 FMAs. Compiled with -mavx512f -mavx512bw -mavx512vl
// -mfma, called only where the CPU has them (isa.cpp).
#include <immintrin.h>

#include <type_traits>

#include "gemm_rows.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#include "gemm_rows_generic.inc"

namespace {

template <int ROWS>
inline void rows_panel_6x64(int64_t J, const float* const* a, int64_t m0, const float* const* b, float* C,
                            int64_t ldc) {
  __m512 acc[ROWS][4];
  for (int i = 0; i < ROWS; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_loadu_ps(C + i * ldc + 16 * c);
  for (int64_t j = 0; j < J; ++j) {
    const float* bj = b[j];
    const __m512 b0 = _mm512_loadu_ps(bj), b1 = _mm512_loadu_ps(bj + 16), b2 = _mm512_loadu_ps(bj + 32),
                 b3 = _mm512_loadu_ps(bj + 48);
    const float* aj = a[j] + m0;
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(aj[i]);
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

void gemm_rows_6x64_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C, int64_t ldc) {
  for_each_row_panel(M, [&](auto rows, int64_t m0) {
    rows_panel_6x64<decltype(rows)::value>(J, a, m0, b, C + m0 * ldc, ldc);
  });
}

void gemm_rows_6x64_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C,
                        int64_t ldc) {
  gemm_rows_6x64_generic<double>(M, J, a, b, C, ldc);
}

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
