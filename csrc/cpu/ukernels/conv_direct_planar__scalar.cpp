// Planar direct convolution kernels (conv_direct_planar.h) for the portable path:
// 16-byte vectors (SSE2 on x86-64), 16 registers.
#include <cstring>

#include "conv_direct_planar.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#define FASTCONV_PLANAR_VECTOR_BYTES 16
#define FASTCONV_PLANAR_VECTOR_REGISTERS 16
#include "conv_direct_planar_generic.inc"
#undef FASTCONV_PLANAR_VECTOR_REGISTERS
#undef FASTCONV_PLANAR_VECTOR_BYTES

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
