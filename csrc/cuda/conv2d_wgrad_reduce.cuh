// Second pass of conv2d wgrad's split-K: dw = sum of the partials, added in split order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "fastconv/conv_index.h"

namespace fastconv {
namespace cuda {

// partial: (splits, groups, K/groups, R*S*C/groups) contiguous; dw as described by the gather.
void conv2d_wgrad_reduce(const conv_index::Conv2dWgradGather& g, int64_t groups, int32_t splits, const float* partial,
                         float* dw, cudaStream_t stream);

}  // namespace cuda
}  // namespace fastconv
