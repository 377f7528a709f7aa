// Indirect GEMM for the scalar path (igemm_generic.inc compiled with this file's ISA flags).
#include "igemm.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "igemm_generic.inc"

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
