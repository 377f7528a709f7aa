// Depthwise conv2d forward, float32, any strides, direct.
//   x: (N, C, H, W)   w: (K, 1, R, S)   b: (K,)   y: (N, K, P, Q)   K = C * M
// One thread per output element (gpu_elements::conv2d_fprop_depthwise_at), q fastest (planar) or
// k fastest (channels-last output): a warp's loads of x, w and its stores are neighbours. 32-bit
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
__global__ void conv2d_fprop_depthwise_kernel(const Conv2dParams p, const gpu_elements::ElementIndex<I> ix,
                                              const float* __restrict__ x, const float* __restrict__ w,
                                              const float* __restrict__ b, float* __restrict__ y, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::conv2d_fprop_depthwise_at<I>(p, ix, x, w, b, y, i, ChannelsLast);
}

template <typename I>
void launch(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y, int64_t total,
            cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(p.y_strides, p.K);
  const auto ix = gpu_elements::depthwise_element_index<I>(p, p.K, p.P, p.Q, cl);
  if (cl)
    conv2d_fprop_depthwise_kernel<I, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, w, b, y, I(total));
  else
    conv2d_fprop_depthwise_kernel<I, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, w, b, y, I(total));
}

}  // namespace

void conv2d_fprop_depthwise(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                            cudaStream_t stream) {
  const int64_t total = p.N * p.K * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, x, w, b, y, total, stream);
  else
    launch<int64_t>(p, x, w, b, y, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
