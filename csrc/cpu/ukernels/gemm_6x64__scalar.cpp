// Portable tile GEMM: what every CPU runs when no vector path applies (and aarch64 until it has NEON
// kernels).
#include "gemm.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "gemm_generic.inc"

void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  gemm_6x64_generic<float>(M, J, A, B, ldb, C, ldc);
}
void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc) {
  gemm_6x64_generic<double>(M, J, A, B, ldb, C, ldc);
}
void gemm_f32_6x64_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  gemm_6x64_generic<float, true>(M, J, A, B, ldb, C, ldc);
}
void gemm_f64_6x64_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C,
                       int64_t ldc) {
  gemm_6x64_generic<double, true>(M, J, A, B, ldb, C, ldc);
}

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
