// Planar direct convolution kernels (conv_direct_planar.h) for AVX2: 8 floats per ymm, 16 registers.
#include <cstring>

#include "conv_direct_planar.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#define FASTCONV_PLANAR_VECTOR_BYTES 32
#define FASTCONV_PLANAR_VECTOR_REGISTERS 16
#include "conv_direct_planar_generic.inc"
#undef FASTCONV_PLANAR_VECTOR_REGISTERS
#undef FASTCONV_PLANAR_VECTOR_BYTES

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
