// Indirect GEMM for the avx2 path (igemm_generic.inc compiled with this file's ISA flags).
#include "igemm.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#include "igemm_generic.inc"

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
