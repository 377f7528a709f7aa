// Average pooling backward (dgrad), float32, any strides, as a gather.
//   dy: (N, C, P, Q)   dx: (N, C, H, W)
// One thread per input element (gpu_elements::avg_pool2d_dgrad_at): the sum over the windows
// containing it, in (oh, ow) order, of dy / divisor - the CPU path's arithmetic and order, without
// atomics (the same bits every run).
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void avg_pool2d_dgrad_kernel(const Pool2dParams p, const float* __restrict__ dy, float* __restrict__ dx,
                                        int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::avg_pool2d_dgrad_at(p, dy, dx, i, ChannelsLast);
}

}  // namespace

void avg_pool2d_dgrad(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(p.x_strides, p.C))
    avg_pool2d_dgrad_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, dx, total);
  else
    avg_pool2d_dgrad_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, dx, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
