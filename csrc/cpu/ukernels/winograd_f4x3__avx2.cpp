// Winograd F(4x4, 3x3) transforms for the avx2 path (the loops of winograd_generic.inc, vectorised
// by the compiler with this file's ISA flags).
#include "gemm.h"
#include "winograd.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#include "winograd_generic.inc"

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
