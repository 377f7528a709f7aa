// Average pooling backward (dgrad), float32, any strides, as a gather.
//   dy: (N, C, P, Q)   dx: (N, C, H, W)
// One thread per input element: dx = the sum over the windows containing it, in (oh, ow) order, of
// dy / divisor - the CPU path's arithmetic and order, without atomics (same bits every run).
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void avg_pool2d_dgrad_kernel(const Pool2dParams p, const float* __restrict__ dy, float* __restrict__ dx,
                                        int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 e = ChannelsLast ? index::unravel_nhwc(i, p.C, p.H, p.W) : index::unravel_nchw(i, p.C, p.H, p.W);
    const index::Range ph = index::covering_outputs(e.h, p.kernel_h, p.stride_h, p.pad_h, p.P);
    const index::Range pw = index::covering_outputs(e.w, p.kernel_w, p.stride_w, p.pad_w, p.Q);
    const float* dyp = dy + (e.n * p.y_strides[0] + e.c * p.y_strides[1]);
    float acc = 0.0f;
    for (int64_t oh = ph.lo; oh < ph.hi; ++oh) {
      const index::AvgSpan sh = index::avg_window(oh, p.kernel_h, p.stride_h, p.pad_h, p.H);
      for (int64_t ow = pw.lo; ow < pw.hi; ++ow) {
        const index::AvgSpan sw = index::avg_window(ow, p.kernel_w, p.stride_w, p.pad_w, p.W);
        const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, p.divisor_override));
        acc += __ldg(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3])) / div;
      }
    }
    dx[index::offset4(p.x_strides, e)] = acc;
  }
}

}  // namespace

void avg_pool2d_dgrad(const Pool2dParams& p, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (p.C > 1 && p.x_strides[1] == 1)
    avg_pool2d_dgrad_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, dx, total);
  else
    avg_pool2d_dgrad_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, dx, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
