// Average pooling forward, float32, any strides.
//   x: (N, C, H, W)   y: (N, C, P, Q)
// One thread per output element, q fastest (planar) or c fastest (channels-last output). The sum of
// the taps inside the input, in row-major order, divided once by torch's divisor (window clipped to
// the padded input with count_include_pad, else the taps inside; divisor_override when nonzero):
// the CPU path's arithmetic, so the same bits as its generic loops.
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void avg_pool2d_fprop_kernel(const Pool2dParams p, const float* __restrict__ x, float* __restrict__ y,
                                        int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 o = ChannelsLast ? index::unravel_nhwc(i, p.C, p.P, p.Q) : index::unravel_nchw(i, p.C, p.P, p.Q);
    const index::AvgSpan sh = index::avg_window(o.h, p.kernel_h, p.stride_h, p.pad_h, p.H);
    const index::AvgSpan sw = index::avg_window(o.w, p.kernel_w, p.stride_w, p.pad_w, p.W);
    const float* xp = x + (o.n * p.x_strides[0] + o.c * p.x_strides[1]);
    float sum = 0.0f;
    for (int64_t h = sh.lo; h < sh.hi; ++h)
      for (int64_t w = sw.lo; w < sw.hi; ++w) sum += __ldg(xp + (h * p.x_strides[2] + w * p.x_strides[3]));
    const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, p.divisor_override));
    y[index::offset4(p.y_strides, o)] = sum / div;
  }
}

}  // namespace

void avg_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  if (p.C > 1 && p.y_strides[1] == 1)
    avg_pool2d_fprop_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, total);
  else
    avg_pool2d_fprop_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
