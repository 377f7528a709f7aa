// Max pooling backward (dgrad), float32, any strides, as a gather.
//   dy, indices: (N, C, P, Q)   x, dx: (N, C, H, W)
// One thread per input element (gpu_elements::max_pool2d_dgrad_at): it visits the output windows
// that can cover it, in (oh, ow) order, and adds dy of those whose argmax - from indices, or
// recomputed from x exactly as the forward finds it - is this element. No atomics: every run gives
// the same bits, equal to the CPU path's scatter (which adds in the same order) wherever each
// argmax lies inside its window.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void max_pool2d_dgrad_kernel(const Pool2dParams p, const float* __restrict__ dy,
                                        const float* __restrict__ x, const int64_t* __restrict__ indices,
                                        float* __restrict__ dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::max_pool2d_dgrad_at(p, dy, x, indices, dx, i, ChannelsLast);
}

}  // namespace

void max_pool2d_dgrad(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
                      cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(p.dx_strides, p.C))
    max_pool2d_dgrad_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, x, indices, dx, total);
  else
    max_pool2d_dgrad_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, x, indices, dx, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
