// Portable row-pointer GEMM: what every CPU runs when no vector path applies.
#include <type_traits>

#include "gemm_rows.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "gemm_rows_generic.inc"

void gemm_rows_6x64_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C, int64_t ldc) {
  gemm_rows_6x64_generic<float>(M, J, a, b, C, ldc);
}
void gemm_rows_6x64_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C,
                        int64_t ldc) {
  gemm_rows_6x64_generic<double>(M, J, a, b, C, ldc);
}

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
