// Depthwise conv2d forward, float32, any strides, direct.
//   x: (N, C, H, W)   w: (K, 1, R, S)   b: (K,)   y: (N, K, P, Q)   K = C * M
// One thread per output element, q fastest (planar) or k fastest (channels-last output). Each
// output sums its taps inside the input in row-major (r, s) order with fmaf, then adds the bias.
#include <cstdint>

#include "cuda/conv2d_depthwise.cuh"
#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_conv.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void conv2d_fprop_depthwise_kernel(const Conv2dParams p, const float* __restrict__ x,
                                              const float* __restrict__ w, const float* __restrict__ b,
                                              float* __restrict__ y, int64_t total) {
  const int64_t M = p.K / p.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 o = ChannelsLast ? index::unravel_nhwc(i, p.K, p.P, p.Q) : index::unravel_nchw(i, p.K, p.P, p.Q);
    const int64_t c = o.c / M;
    const int64_t h0 = o.h * p.stride_h - p.pad_h;
    const int64_t w0 = o.w * p.stride_w - p.pad_w;
    const index::Range rr = index::inside_taps(h0, p.R, p.dilation_h, p.H);
    const index::Range sr = index::inside_taps(w0, p.S, p.dilation_w, p.W);
    const float* xp = x + (o.n * p.x_strides[0] + c * p.x_strides[1]);
    const float* wp = w + o.c * p.w_strides[0];
    float acc = 0.0f;
    for (int64_t r = rr.lo; r < rr.hi; ++r) {
      const float* xr = xp + (h0 + r * p.dilation_h) * p.x_strides[2];
      const float* wr = wp + r * p.w_strides[2];
      for (int64_t s = sr.lo; s < sr.hi; ++s)
        acc = fmaf(__ldg(xr + (w0 + s * p.dilation_w) * p.x_strides[3]), __ldg(wr + s * p.w_strides[3]), acc);
    }
    if (b) acc += __ldg(b + o.c * p.b_stride);
    y[index::offset4(p.y_strides, o)] = acc;
  }
}

}  // namespace

bool conv2d_depthwise_supported(const Conv2dParams& p) {
  return p.groups == p.C && p.C > 0 && p.K % p.C == 0;
}

void conv2d_fprop_depthwise(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                            cudaStream_t stream) {
  const int64_t total = p.N * p.K * p.P * p.Q;
  if (total == 0) return;
  if (depthwise::channels_last(p.y_strides, p.K))
    conv2d_fprop_depthwise_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, x, w, b, y, total);
  else
    conv2d_fprop_depthwise_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, x, w, b, y, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
