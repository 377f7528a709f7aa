// Depthwise conv2d forward, float32, any strides, direct.
//   x: (N, C, H, W)   w: (K, 1, R, S)   b: (K,)   y: (N, K, P, Q)   K = C * M
// One thread per output element (gpu_elements::conv2d_fprop_depthwise_at), q fastest (planar) or
// k fastest (channels-last output): a warp's loads of x, w and its stores are neighbours.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/cuda_conv.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void conv2d_fprop_depthwise_kernel(const Conv2dParams p, const float* __restrict__ x,
                                              const float* __restrict__ w, const float* __restrict__ b,
                                              float* __restrict__ y, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::conv2d_fprop_depthwise_at(p, x, w, b, y, i, ChannelsLast);
}

}  // namespace

void conv2d_fprop_depthwise(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                            cudaStream_t stream) {
  const int64_t total = p.N * p.K * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(p.y_strides, p.K))
    conv2d_fprop_depthwise_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, w, b, y, total);
  else
    conv2d_fprop_depthwise_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, w, b, y, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
