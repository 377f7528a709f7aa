// Reduction GEMM for the avx2 path (gemm_nt_generic.inc compiled with this file's ISA flags).
#include "gemm_nt.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#include "gemm_nt_generic.inc"

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
