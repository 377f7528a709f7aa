// Max pooling forward, float32, any strides.
//   x: (N, C, H, W)   y, indices: (N, C, P, Q)
// One thread per output element (gpu_elements::max_pool2d_fprop_at, which states the semantics:
// the CPU path's). Threads walk the output with q fastest (planar) or c fastest (channels-last
// output), so a warp reads and writes neighbouring memory in either layout.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void max_pool2d_fprop_kernel(const Pool2dParams p, const float* __restrict__ x, float* __restrict__ y,
                                        int64_t* __restrict__ indices, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    gpu_elements::max_pool2d_fprop_at(p, x, y, indices, i, ChannelsLast);
}

}  // namespace

void max_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, int64_t* indices, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  if (gpu_elements::walks_channels_last(y ? p.y_strides : p.i_strides, p.C))
    max_pool2d_fprop_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, indices, total);
  else
    max_pool2d_fprop_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, indices, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
