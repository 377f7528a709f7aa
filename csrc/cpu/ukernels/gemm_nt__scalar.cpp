// Reduction GEMM for the scalar path (gemm_nt_generic.inc compiled with this file's ISA flags).
#include "gemm_nt.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "gemm_nt_generic.inc"

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
