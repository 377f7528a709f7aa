// CUDA entry points of the convolution kernels (float32). Compiled only with FASTCONV_WITH_CUDA.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)
// any element strides (Conv2dParams). Every pointer is device memory on the current device; the
// kernels run asynchronously on `stream`; scratch memory comes from the caller (workspace), never
// from cudaMalloc. Results are the same bits on every run (no float atomics).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "fastconv/conv.h"

namespace fastconv {
namespace cuda {

// Depthwise: groups == C, K = C * M (M the channel multiplier); output channel k reads channel k / M.
// y = conv(x, w) + b; b may be null.
void conv2d_fprop_depthwise(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                            cudaStream_t stream);
// dx = sum over the outputs each input element feeds (a gather; x_strides describe dx).
void conv2d_dgrad_depthwise(const Conv2dParams& p, const float* dy, const float* w, float* dx, cudaStream_t stream);
// Floats of workspace conv2d_wgrad_depthwise needs (per-block partial sums).
size_t conv2d_wgrad_depthwise_workspace(const Conv2dParams& p);
// dw (w_strides) and, when db is not null, db (b_stride): per-block partial sums over fixed chunks of
// the (n, p, q) pixels, then a second pass adding the chunks in order.
void conv2d_wgrad_depthwise(const Conv2dParams& p, const float* dy, const float* x, float* dw, float* db,
                            float* workspace, cudaStream_t stream);

}  // namespace cuda
}  // namespace fastconv
