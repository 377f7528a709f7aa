// A batch-reduce GEMM whose operand rows come by pointer, per ISA:
//
//   C[m * ldc + t] += sum over j < J of a[j][m] * b[j][t]      m < M, t < kRowsCols (64)
//
// a[j]: M contiguous values (row j of A, e.g. one pixel's channels); b[j]: 64 contiguous values.
// The operands are read where they lie, however their rows are spaced (strided pixels, several
// images), with no packing. Each C element starts from C's value and adds j = 0, 1, ... in order,
// so results do not depend on threads or blocking; they may differ between ISAs (fused
// multiply-add rounds once).
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

constexpr int64_t kRowsCols = 64;

#define FASTCONV_GEMM_ROWS_DECLARE(ns)                                                                     \
  namespace ns {                                                                                           \
  void gemm_rows_6x64_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C,   \
                          int64_t ldc);                                                                    \
  void gemm_rows_6x64_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C, \
                          int64_t ldc);                                                                    \
  }
FASTCONV_GEMM_ROWS_DECLARE(scalar)
FASTCONV_GEMM_ROWS_DECLARE(avx2)
FASTCONV_GEMM_ROWS_DECLARE(avx512)
#undef FASTCONV_GEMM_ROWS_DECLARE

// The selected ISA's kernel.
void gemm_rows_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C, int64_t ldc);
void gemm_rows_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C, int64_t ldc);

}  // namespace cpu
}  // namespace fastconv
