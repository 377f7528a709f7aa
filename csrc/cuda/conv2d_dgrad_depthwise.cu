// Depthwise conv2d backward-data (dgrad), float32, any strides, as a gather.
//   dy: (N, K, P, Q)   w: (K, 1, R, S)   dx: (N, C, H, W)   K = C * M
// One thread per dx element (x_strides describe dx): it adds, for each of its M output channels
// and each tap (r, s) that maps it to an output inside (P, Q), dy * w, in (m, r, s) order with fmaf.
// No atomics: the same bits every run.
#include <cstdint>

#include "cuda/conv2d_depthwise.cuh"
#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_conv.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

template <bool ChannelsLast>
__global__ void conv2d_dgrad_depthwise_kernel(const Conv2dParams p, const float* __restrict__ dy,
                                              const float* __restrict__ w, float* __restrict__ dx, int64_t total) {
  const int64_t M = p.K / p.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const index::Coord4 e = ChannelsLast ? index::unravel_nhwc(i, p.C, p.H, p.W) : index::unravel_nchw(i, p.C, p.H, p.W);
    float acc = 0.0f;
    for (int64_t m = 0; m < M; ++m) {
      const int64_t k = e.c * M + m;
      const float* dyp = dy + (e.n * p.y_strides[0] + k * p.y_strides[1]);
      const float* wp = w + k * p.w_strides[0];
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t oh = index::tap_output(e.h, r * p.dilation_h, p.stride_h, p.pad_h, p.P);
        if (oh < 0) continue;
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t ow = index::tap_output(e.w, s * p.dilation_w, p.stride_w, p.pad_w, p.Q);
          if (ow < 0) continue;
          acc = fmaf(__ldg(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3])),
                     __ldg(wp + (r * p.w_strides[2] + s * p.w_strides[3])), acc);
        }
      }
    }
    dx[index::offset4(p.x_strides, e)] = acc;
  }
}

}  // namespace

void conv2d_dgrad_depthwise(const Conv2dParams& p, const float* dy, const float* w, float* dx, cudaStream_t stream) {
  const int64_t total = p.N * p.C * p.H * p.W;
  if (total == 0) return;
  if (depthwise::channels_last(p.x_strides, p.C))
    conv2d_dgrad_depthwise_kernel<true><<<grid_for(total), kThreads, 0, stream>>>(p, dy, w, dx, total);
  else
    conv2d_dgrad_depthwise_kernel<false><<<grid_for(total), kThreads, 0, stream>>>(p, dy, w, dx, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
