// CUDA implicit-GEMM conv2d (float32) and its bias gradient. Compiled only with FASTCONV_WITH_CUDA.
//   x, dx: (N, C, H, W)     w, dw: (K, C/groups, R, S)     y, dy: (N, K, P, Q)     b, db: (K,)
// Axes are logical with element strides (Conv2dParams): NCHW and NHWC are indexed directly.
// Pointers are device memory on the current device; kernels are enqueued on `stream`, not waited
// for. `workspace` holds conv2d_*_workspace_bytes(p) bytes (conv_index.h), allocated by the caller;
// it may be null when that is 0. Parameters are checked by the caller
// (check_conv2d_params); a problem beyond the kernels' 32-bit indices throws std::invalid_argument.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fastconv/conv.h"

namespace fastconv {
namespace cuda {

// y = conv(x, w) + b; b may be null.
void conv2d_fprop_implicit_gemm(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                                void* workspace, cudaStream_t stream);
// dx from dy and w; x_strides describe dx.
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const float* dy, const float* w, float* dx, void* workspace,
                                cudaStream_t stream);
// dw from dy and x; w_strides describe dw. Deterministic split-K through the workspace.
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const float* dy, const float* x, float* dw, void* workspace,
                                cudaStream_t stream);
// db[k] = sum over n, p, q of dy; b_stride describes db. Fixed-order reduction.
void conv2d_bgrad(const Conv2dParams& p, const float* dy, float* db, void* workspace, cudaStream_t stream);

}  // namespace cuda
}  // namespace fastconv
