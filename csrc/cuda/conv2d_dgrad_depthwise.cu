// Depthwise conv2d backward-data (dgrad), float32, any strides, as a gather.
//   dy: (N, K, P, Q)   w: (K, 1, R, S)   dx: (N, C, H, W)   K = C * M
// One thread per dx element (gpu_elements::conv2d_dgrad_depthwise_at; x_strides describe dx),
// c fastest for channels-last dx, else w fastest. No atomics: the same bits every run.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/cuda_conv.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void conv2d_dgrad_depthwise_kernel(const Conv2dParams p, const float* __restrict__ dy,
                                              const float* __restrict__ w, float* __restrict__ dx, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::conv2d_dgrad_depthwise_at(p, dy, w, dx, i, ChannelsLast);
}

}  // namespace

void conv2d_dgrad_depthwise(const Conv2dParams& p, const float* dy, const float* w, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(p.x_strides, p.C))
    conv2d_dgrad_depthwise_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, w, dx, total);
  else
    conv2d_dgrad_depthwise_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, w, dx, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
