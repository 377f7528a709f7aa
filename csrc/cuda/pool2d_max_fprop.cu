// Max pooling forward, float32, any strides.
//   x: (N, C, H, W)   y, indices: (N, C, P, Q)
// One thread per output element; threads walk the output with q fastest (planar) or c fastest
// (channels-last output), so a warp reads and writes neighbouring memory in either layout.
// Semantics are the CPU path's (csrc/cpu/max_pool2d.cpp): padding is -inf and never chosen; the
// taps inside the input are scanned in row-major order and replace the maximum when
// `v > best || isnan(v)`; the index is h * W + w, torch's "first tap moved inside" for a window
// with no tap inside.
#include <cmath>
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void max_pool2d_fprop_kernel(const Pool2dParams p, const float* __restrict__ x, float* __restrict__ y,
                                        int64_t* __restrict__ indices, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 o = ChannelsLast ? index::unravel_nhwc(i, p.C, p.P, p.Q) : index::unravel_nchw(i, p.C, p.P, p.Q);
    const int64_t h0 = o.h * p.stride_h - p.pad_h;
    const int64_t w0 = o.w * p.stride_w - p.pad_w;
    const index::Range rr = index::inside_taps(h0, p.kernel_h, p.dilation_h, p.H);
    const index::Range sr = index::inside_taps(w0, p.kernel_w, p.dilation_w, p.W);
    float best = -INFINITY;
    int64_t arg = (h0 + rr.lo * p.dilation_h) * p.W + (w0 + sr.lo * p.dilation_w);
    const float* xp = x + (o.n * p.x_strides[0] + o.c * p.x_strides[1]);
    for (int64_t r = rr.lo; r < rr.hi; ++r) {
      const int64_t h = h0 + r * p.dilation_h;
      for (int64_t s = sr.lo; s < sr.hi; ++s) {
        const int64_t w = w0 + s * p.dilation_w;
        const float v = __ldg(xp + (h * p.x_strides[2] + w * p.x_strides[3]));
        if (v > best || isnan(v)) {
          best = v;
          arg = h * p.W + w;
        }
      }
    }
    if (y) y[index::offset4(p.y_strides, o)] = best;
    if (indices) indices[index::offset4(p.i_strides, o)] = arg;
  }
}

}  // namespace

void max_pool2d_fprop(const Pool2dParams& p, const float* x, float* y, int64_t* indices, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.P * p.Q;
  if (total == 0) return;
  const bool channels_last = p.C > 1 && (y ? p.y_strides[1] : p.i_strides[1]) == 1;
  if (channels_last)
    max_pool2d_fprop_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, indices, total);
  else
    max_pool2d_fprop_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, y, indices, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
