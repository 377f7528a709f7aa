// Max pooling backward (dgrad), float32, any strides, as a gather.
//   dy, indices: (N, C, P, Q)   x, dx: (N, C, H, W)
// One thread per input element: it visits the output windows that can cover it, in (oh, ow) order,
// and adds dy of those whose argmax is this element - read from indices, or recomputed from x
// exactly as the forward does. No atomics: every run gives the same bits, and they equal the CPU
// path's scatter (which adds in the same order) wherever each argmax lies inside its window.
#include <cmath>
#include <cstdint>

#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

// Flat index h * W + w of the maximum of window (oh, ow) of plane (n, c), as the forward computes it.
__device__ __forceinline__ int64_t window_argmax(const Pool2dParams& p, const float* __restrict__ xp, int64_t oh,
                                                 int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_h;
  const int64_t w0 = ow * p.stride_w - p.pad_w;
  const index::Range rr = index::inside_taps(h0, p.kernel_h, p.dilation_h, p.H);
  const index::Range sr = index::inside_taps(w0, p.kernel_w, p.dilation_w, p.W);
  // With taps inside, the forward's default index is the first of them (all taps -inf keep it);
  // a window without taps inside sends its gradient nowhere.
  const bool any_inside = rr.lo < rr.hi && sr.lo < sr.hi;
  int64_t arg = any_inside ? (h0 + rr.lo * p.dilation_h) * p.W + (w0 + sr.lo * p.dilation_w) : -1;
  float best = -INFINITY;
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
  return arg;
}

template <bool ChannelsLast, bool HaveIndices>
__global__ void max_pool2d_dgrad_kernel(const Pool2dParams p, const float* __restrict__ dy,
                                        const float* __restrict__ x, const int64_t* __restrict__ indices,
                                        float* __restrict__ dx, int64_t total) {
  const int64_t extent_h = p.dilation_h * (p.kernel_h - 1) + 1;
  const int64_t extent_w = p.dilation_w * (p.kernel_w - 1) + 1;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 e = ChannelsLast ? index::unravel_nhwc(i, p.C, p.H, p.W) : index::unravel_nchw(i, p.C, p.H, p.W);
    const index::Range ph = index::covering_outputs(e.h, extent_h, p.stride_h, p.pad_h, p.P);
    const index::Range pw = index::covering_outputs(e.w, extent_w, p.stride_w, p.pad_w, p.Q);
    const int64_t me = e.h * p.W + e.w;
    const float* dyp = dy + (e.n * p.y_strides[0] + e.c * p.y_strides[1]);
    const int64_t* ip = HaveIndices ? indices + (e.n * p.i_strides[0] + e.c * p.i_strides[1]) : nullptr;
    const float* xp = HaveIndices ? nullptr : x + (e.n * p.x_strides[0] + e.c * p.x_strides[1]);
    float acc = 0.0f;
    for (int64_t oh = ph.lo; oh < ph.hi; ++oh)
      for (int64_t ow = pw.lo; ow < pw.hi; ++ow) {
        const int64_t arg = HaveIndices ? __ldg(ip + (oh * p.i_strides[2] + ow * p.i_strides[3]))
                                        : window_argmax(p, xp, oh, ow);
        if (arg == me) acc += __ldg(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3]));
      }
    dx[index::offset4(p.dx_strides, e)] = acc;
  }
}

template <bool ChannelsLast>
void launch(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
            int64_t total, cudaStream_t stream) {
  if (indices)
    max_pool2d_dgrad_kernel<ChannelsLast, true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, x, indices, dx, total);
  else
    max_pool2d_dgrad_kernel<ChannelsLast, false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, x, indices, dx, total);
}

}  // namespace

void max_pool2d_dgrad(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx,
                      cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (p.C > 1 && p.dx_strides[1] == 1)
    launch<true>(p, dy, x, indices, dx, total, stream);
  else
    launch<false>(p, dy, x, indices, dx, total, stream);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
