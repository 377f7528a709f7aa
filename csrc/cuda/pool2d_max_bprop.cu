// Max pooling backward (dgrad), float32, any strides, as a gather.
//   dy, indices: (N, C, P, Q)   x, dx: (N, C, H, W)
// One thread per input element (gpu_elements::max_pool2d_dgrad_at): it visits the output windows
// that can cover it, in (oh, ow) order, and adds dy of those whose argmax is this element. Without
// indices a first pass finds each window's argmax from x once, exactly as the forward does
// (gpu_elements::max_pool2d_argmax_at), into the caller's workspace, instead of every covering
// element recomputing it. No atomics: every run gives the same bits, equal to the CPU path's
// scatter (which adds in the same order) wherever each argmax lies inside its window. 32-bit
// indices whenever the problem fits.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/gpu_index_width.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <typename I, typename J, bool ChannelsLast>
__global__ void max_pool2d_argmax_kernel(const Pool2dParams p, const gpu_elements::ElementIndex<I> ix,
                                         const float* __restrict__ x, J* __restrict__ argmax, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::max_pool2d_argmax_at<I, J>(p, ix, x, argmax, i, ChannelsLast);
}

template <typename I, typename J, bool ChannelsLast>
__global__ void max_pool2d_dgrad_kernel(const Pool2dParams p, const gpu_elements::ElementIndex<I> ix,
                                        const float* __restrict__ dy, const J* __restrict__ indices,
                                        float* __restrict__ dx, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::max_pool2d_dgrad_at<I, J>(p, ix, dy, indices, dx, i, ChannelsLast);
}

template <typename I, typename J>
void launch_dgrad(const Pool2dParams& p, const float* dy, const J* indices, float* dx, bool cl, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  const auto ix = gpu_elements::pool2d_element_index<I>(p, p.C, p.H, p.W, cl);
  if (cl)
    max_pool2d_dgrad_kernel<I, J, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, indices, dx, I(total));
  else
    max_pool2d_dgrad_kernel<I, J, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, indices, dx, I(total));
}

// Both passes, the argmax buffer of J in the dgrad's walk order.
template <typename I, typename J>
void launch_two_pass(Pool2dParams p, const float* dy, const float* x, J* argmax, float* dx, bool cl,
                     cudaStream_t stream) {
  const int64_t outputs = p.N * p.C * p.P * p.Q;
  if (outputs > 0) {
    const auto ix = gpu_elements::pool2d_element_index<I>(p, p.C, p.P, p.Q, cl);
    if (cl)
      max_pool2d_argmax_kernel<I, J, true><<<grid_for(outputs), kThreads, 0, stream>>>(p, ix, x, argmax, I(outputs));
    else
      max_pool2d_argmax_kernel<I, J, false><<<grid_for(outputs), kThreads, 0, stream>>>(p, ix, x, argmax, I(outputs));
    FASTCONV_CUDA_CHECK(cudaGetLastError());
  }
  gpu_elements::max_pool2d_argmax_strides(p, cl, p.i_strides);
  launch_dgrad<I, J>(p, dy, argmax, dx, cl, stream);
}

template <typename I>
void launch(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
            void* workspace, cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(p.dx_strides, p.C);
  if (indices)
    launch_dgrad<I, int64_t>(p, dy, indices, dx, cl, stream);
  else if (gpu_elements::max_pool2d_argmax_is_int32(p))
    launch_two_pass<I, int32_t>(p, dy, x, static_cast<int32_t*>(workspace), dx, cl, stream);
  else
    launch_two_pass<I, int64_t>(p, dy, x, static_cast<int64_t*>(workspace), dx, cl, stream);
}

}  // namespace

size_t max_pool2d_dgrad_workspace(const Pool2dParams& p, bool has_indices) {
  return has_indices ? 0 : static_cast<size_t>(gpu_elements::max_pool2d_argmax_bytes(p));
}

void max_pool2d_dgrad(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
                      void* workspace, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, dy, x, indices, dx, workspace, stream);
  else
    launch<int64_t>(p, dy, x, indices, dx, workspace, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
