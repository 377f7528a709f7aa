// The reduction GEMM behind conv2d's weight gradient, per ISA:
//
//   C[m * ldc + n] = sum_t A[m * lda + t] * B[n * ldb + t]     m < M, n < N, t < T
//
// Both operands are row-major along the reduction (t), which is how the gathered input patches and
// the output gradient rows lie, so nothing is transposed. M and N are multiples of 4, T of 16
// (callers pad with zero rows and columns). Each C element is the sum of 16 fixed lanes
// (t mod 16) added in a fixed order: deterministic, independent of threads and blocking.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

constexpr int64_t kNtRows = 4;    // M and N granularity
constexpr int64_t kNtLanes = 16;  // T granularity

#define FASTCONV_GEMM_NT_DECLARE(ns)                                                                       \
  namespace ns {                                                                                           \
  void gemm_nt(int64_t M, int64_t N, int64_t T, const float* A, int64_t lda, const float* B, int64_t ldb,   \
               float* C, int64_t ldc);                                                                     \
  void gemm_nt(int64_t M, int64_t N, int64_t T, const double* A, int64_t lda, const double* B, int64_t ldb, \
               double* C, int64_t ldc);                                                                    \
  }
FASTCONV_GEMM_NT_DECLARE(scalar)
FASTCONV_GEMM_NT_DECLARE(avx2)
FASTCONV_GEMM_NT_DECLARE(avx512)
#undef FASTCONV_GEMM_NT_DECLARE

// The selected ISA's kernel.
void gemm_nt(int64_t M, int64_t N, int64_t T, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc);
void gemm_nt(int64_t M, int64_t N, int64_t T, const double* A, int64_t lda, const double* B, int64_t ldb, double* C,
             int64_t ldc);

}  // namespace cpu
}  // namespace fastconv
