// CUDA entry points of the pooling kernels (float32). Compiled only with FASTCONV_WITH_CUDA.
//   x, dx: (N, C, H, W)    y, dy, indices: (N, C, P, Q)    any element strides (Pool2dParams)
// Every pointer is device memory on the current device; the kernels run asynchronously on
// `stream` and allocate nothing (scratch memory is the caller's workspace). Backward passes are
// gathers (each dx element sums its covering windows in (oh, ow) order), so results are the same
// bits on every run and equal to the CPU path's generic loops. Max-pool backward, unlike the CPU
// path's scatter, sends a gradient only to an input inside its window: a window with no tap inside
// (possible with dilation) or an index outside its window contributes nothing, as in torch's CUDA
// kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "fastconv/pool.h"

namespace fastconv {
namespace cuda {

// indices may be null.
void max_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, int64_t* indices, cudaStream_t stream);
// Bytes of workspace max_pool2d_dgrad needs: without indices, each window's argmax (one int32 or,
// for planes of 2^31 elements or more, int64 per output element); with indices none.
size_t max_pool2d_dgrad_workspace(const Pool2dParams& p, bool has_indices);
// dx_strides describe dx; x (read with x_strides) and the workspace (8-byte aligned,
// max_pool2d_dgrad_workspace bytes) are used only when indices is null.
void max_pool2d_dgrad(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
                      void* workspace, cudaStream_t stream);
void avg_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream);
// dx uses x_strides.
void avg_pool2d_dgrad(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream);

}  // namespace cuda
}  // namespace fastconv
