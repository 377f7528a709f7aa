// Portable tile GEMM: what every CPU runs when no vector path applies (and aarch64 until it has NEON
// kernels).
#include "gemm.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "gemm_generic.inc"

void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, float* C) {
  gemm_6x64_generic<float>(M, J, A, B, C);
}
void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, double* C) {
  gemm_6x64_generic<double>(M, J, A, B, C);
}

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
