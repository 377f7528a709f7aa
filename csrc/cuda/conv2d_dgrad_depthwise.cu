// Depthwise conv2d backward-data (dgrad), float32, any strides, as a gather.
//   dy: (N, K, P, Q)   w: (K, 1, R, S)   dx: (N, C, H, W)   K = C * M
// One thread per dx element (gpu_elements::conv2d_dgrad_depthwise_at; x_strides describe dx),
// c fastest for channels-last dx, else w fastest. No atomics: the same bits every run. 32-bit
// indices whenever the problem fits.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/cuda_conv.h"
#include "fastconv/gpu_index_width.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <typename I, bool ChannelsLast>
__global__ void conv2d_dgrad_depthwise_kernel(const Conv2dParams p, const gpu_elements::ElementIndex<I> ix,
                                              const float* __restrict__ dy, const float* __restrict__ w,
                                              float* __restrict__ dx, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::conv2d_dgrad_depthwise_at<I>(p, ix, dy, w, dx, i, ChannelsLast);
}

template <typename I>
void launch(const Conv2dParams& p, const float* dy, const float* w, float* dx, int64_t total, cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(p.x_strides, p.C);
  const auto ix = gpu_elements::depthwise_element_index<I>(p, p.C, p.H, p.W, cl);
  if (cl)
    conv2d_dgrad_depthwise_kernel<I, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, w, dx, I(total));
  else
    conv2d_dgrad_depthwise_kernel<I, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, dy, w, dx, I(total));
}

}  // namespace

void conv2d_dgrad_depthwise(const Conv2dParams& p, const float* dy, const float* w, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, dy, w, dx, total, stream);
  else
    launch<int64_t>(p, dy, w, dx, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
