// Average pooling backward (dgrad), float32, any strides, as a gather.
//   dy: (N, C, P, Q)   dx: (N, C, H, W)
// One thread per input element (gpu_elements::avg_pool2d_dgrad_at): the sum over the windows
// containing it, in (oh, ow) order, of dy / divisor - the CPU path's arithmetic and order, without
// atomics (the same bits every run); 32-bit indices whenever the problem fits.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/gpu_index_width.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <typename I, bool ChannelsLast>
__global__ void avg_pool2d_dgrad_kernel(const Pool2dParams p, const gpu_elements::ElementIndex<I> ix,
                                        const float* __restrict__ dy, float* __restrict__ dx, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::avg_pool2d_dgrad_at<I>(p, ix, dy, dx, i, ChannelsLast);
}

template <typename I>
void launch(const Pool2dParams& p, const float* dy, float* dx, int64_t total, cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(p.x_strides, p.C);
  const auto ix = gpu_elements::pool2d_element_index<I>(p, p.C, p.H, p.W, cl);
  if (cl)
    avg_pool2d_dgrad_kernel<I, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, dx, I(total));
  else
    avg_pool2d_dgrad_kernel<I, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, dx, I(total));
}

}  // namespace

void avg_pool2d_dgrad(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, dy, dx, total, stream);
  else
    launch<int64_t>(p, dy, dx, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
