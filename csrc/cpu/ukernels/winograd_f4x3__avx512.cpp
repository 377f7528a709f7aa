// Winograd F(4x4, 3x3) transforms for the avx512 path (the loops of winograd_generic.inc, vectorised
// by the compiler with this file's ISA flags).
#include "gemm.h"
#include "winograd.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#include "winograd_generic.inc"

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
