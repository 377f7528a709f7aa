// Max pooling forward, float32, any strides.
//   x: (N, C, H, W)   y, indices: (N, C, P, Q)
// One thread per output element (gpu_elements::max_pool2d_fprop_at, which states the semantics:
// the CPU path's). Threads walk the output with q fastest (planar) or c fastest (channels-last
// output), so a warp reads and writes neighbouring memory in either layout; 32-bit indices
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
__global__ void max_pool2d_fprop_kernel(const Pool2dParams p, const gpu_elements::ElementIndex<I> ix,
                                        const float* __restrict__ x, float* __restrict__ y,
                                        int64_t* __restrict__ indices, I total) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += I(gridDim.x) * I(blockDim.x))
    gpu_elements::max_pool2d_fprop_at<I>(p, ix, x, y, indices, i, ChannelsLast);
}

template <typename I>
void launch(const Pool2dParams& p, const float* x, float* y, int64_t* indices, int64_t total, cudaStream_t stream) {
  const bool cl = gpu_elements::walks_channels_last(y ? p.y_strides : p.i_strides, p.C);
  const auto ix = gpu_elements::pool2d_element_index<I>(p, p.C, p.P, p.Q, cl);
  if (cl)
    max_pool2d_fprop_kernel<I, true><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, y, indices, I(total));
  else
    max_pool2d_fprop_kernel<I, false><<<grid_for(total), kThreads, 0, stream>>>(p, ix, x, y, indices, I(total));
}

}  // namespace

void max_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, int64_t* indices, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::use_index32(p))
    launch<int32_t>(p, x, y, indices, total, stream);
  else
    launch<int64_t>(p, x, y, indices, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
