// Shared pieces of the depthwise CUDA passes (conv2d_{fprop,dgrad,wgrad}_depthwise.cu).
// Depthwise: groups == C, K = C * M; output channel k reads input channel k / M with its own
// R x S filter w[k, 0, r, s].
#pragma once

#include "fastconv/conv.h"

namespace fastconv {
namespace cuda {
namespace depthwise {

// Channels-last when the written tensor stores channels contiguously: threads then walk channels
// fastest, which keeps a warp's reads of x, w and dy and its writes coalesced.
inline bool channels_last(const int64_t* strides, int64_t channels) { return channels > 1 && strides[1] == 1; }

}  // namespace depthwise
}  // namespace cuda
}  // namespace fastconv
