// Average pooling forward, float32, any strides.
//   x: (N, C, H, W)   y: (N, C, P, Q)
// One thread per output element (gpu_elements::avg_pool2d_fprop_at: the CPU path's divisor rule
// and summation order), q fastest (planar) or c fastest (channels-last output); 32-bit indices
// whenever the problem fits.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/gpu_index_width.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <typename I, bool ChannelsLast>
__global__ void avg_pool2d_fprop_kernel(const Pool2dParams p, const gpu_elements::ElementIndex<I> ix,
                                        const float* __restrict__ x, float* __restrict__ y, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::avg_pool2d_fprop_at<I>(p, ix, x, y, i, ChannelsLast);
}

template <typename I>
void launch(const Pool2dParams& p, const float* x, float* y, int64_t total, cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(p.y_strides, p.C);
  const auto ix = gpu_elements::pool2d_element_index<I>(p, p.C, p.P, p.Q, cl);
  if (cl)
    avg_pool2d_fprop_kernel<I, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, y, I(total));
  else
    avg_pool2d_fprop_kernel<I, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, y, I(total));
}

}  // namespace

void avg_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, x, y, total, stream);
  else
    launch<int64_t>(p, x, y, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
