// Direct convolution kernels for the scalar path (conv_direct_generic.inc with baseline flags).
#include "conv_direct.h"

namespace fastconv {
namespace cpu {
namespace scalar {

#include "conv_direct_generic.inc"

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
