// Average pooling forward, float32, any strides.
//   x: (N, C, H, W)   y: (N, C, P, Q)
// One thread per output element (gpu_elements::avg_pool2d_fprop_at: the CPU path's divisor rule
// and summation order), q fastest (planar) or c fastest (channels-last output).
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void avg_pool2d_fprop_kernel(const Pool2dParams p, const float* __restrict__ x, float* __restrict__ y,
                                        int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::avg_pool2d_fprop_at(p, x, y, i, ChannelsLast);
}

}  // namespace

void avg_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(p.y_strides, p.C))
    avg_pool2d_fprop_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, total);
  else
    avg_pool2d_fprop_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
