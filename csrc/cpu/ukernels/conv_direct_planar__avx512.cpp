// Planar direct convolution kernels (conv_direct_planar.h) for AVX-512: 16 floats per zmm, 32 registers.
#include <cstring>

#include "conv_direct_planar.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#define FASTCONV_PLANAR_VECTOR_BYTES 64
#define FASTCONV_PLANAR_VECTOR_REGISTERS 32
#include "conv_direct_planar_generic.inc"
#undef FASTCONV_PLANAR_VECTOR_REGISTERS
#undef FASTCONV_PLANAR_VECTOR_BYTES

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
