// Depthwise conv2d backward-weight (wgrad) and bias grad, float32, any strides, deterministic.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, 1, R, S)   db: (K,)   K = C * M
// dw[k, r, s] = sum over (n, p, q) of dy[n, k, p, q] * x[n, k / M, p*sh - ph + r*dh, q*sw - pw + s*dw]
// db[k]       = sum over (n, p, q) of dy[n, k, p, q]
//
// Pass 1: the flattened (n, p, q) pixels are cut into chunks (wgrad_depthwise_chunk_pixels, a
// function of the shape and layout only). A block owns (a group of channel lanes, one chunk): each thread accumulates a
// fixed stride of the chunk's pixels for up to kWgradTaps taps (and the bias) in registers, the
// block adds its threads' sums in a fixed tree and writes one partial per (chunk, k, tap) to the
// caller's workspace. Taps beyond kWgradTaps (kernels larger than 3x3) take further rounds.
// Pass 2: one thread per (k, tap) adds the chunks' partials in chunk order. No float atomics and no
// dependence on the card or its SM count: the same bits on every run and every GPU.
// The arithmetic is in fastconv/conv2d_depthwise_gpu_elements.h, shared with the CPU emulation.
#include <cstdint>
#include <stdexcept>

#include "cuda/cuda_check.cuh"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/cuda_conv.h"

namespace fastconv {
namespace cuda {

namespace {

using namespace gpu_elements;

template <int KL>
__global__ void __launch_bounds__(kWgradBlock)
    wgrad_partials_kernel(const Conv2dParams p, const float* __restrict__ dy, const float* __restrict__ x,
                          float* __restrict__ part, int64_t chunks, bool want_dw, bool want_db) {
  constexpr int PL = kWgradBlock / KL;
  __shared__ float red[kWgradTaps + 1][kWgradBlock];
  const int64_t chunk = blockIdx.x % chunks;
  const int64_t k = (blockIdx.x / chunks) * KL + threadIdx.x;
  const bool active = k < p.K;
  const int64_t c = active ? k / (p.K / p.C) : 0;
  const int64_t RS = p.R * p.S;
  const int64_t T = RS + 1;
  const int64_t chunk_pixels = kWgradPixelsPerLane * PL;
  const int64_t begin = chunk * chunk_pixels;
  const int64_t end = index::min64(p.N * p.P * p.Q, begin + chunk_pixels);
  const int lane = threadIdx.y * KL + threadIdx.x;
  const int64_t rounds = want_dw ? (RS + kWgradTaps - 1) / kWgradTaps : 1;

  for (int64_t g = 0; g < rounds; ++g) {
    int64_t tap_h[kWgradTaps], tap_w[kWgradTaps];
    const int nt = wgrad_depthwise_tap_group(p, g, want_dw, tap_h, tap_w);
    float acc[kWgradTaps + 1];
#pragma unroll
    for (int j = 0; j <= kWgradTaps; ++j) acc[j] = 0.0f;
    if (active)
      for (int64_t pix = begin + threadIdx.y; pix < end; pix += PL)
        conv2d_wgrad_depthwise_pixel(p, dy, x, k, c, pix, nt, tap_h, tap_w, acc);
#pragma unroll
    for (int j = 0; j <= kWgradTaps; ++j) red[j][lane] = acc[j];
    __syncthreads();
    for (int half = PL / 2; half > 0; half /= 2) {
      if (static_cast<int>(threadIdx.y) < half) {
#pragma unroll
        for (int j = 0; j <= kWgradTaps; ++j) red[j][lane] += red[j][lane + half * KL];
      }
      __syncthreads();
    }
    if (threadIdx.y == 0 && active) {
      float* out = part + (chunk * p.K + k) * T;
      const int64_t t0 = g * kWgradTaps;
      for (int j = 0; j < nt; ++j) out[t0 + j] = red[j][threadIdx.x];
      if (want_db && g == 0) out[RS] = red[kWgradTaps][threadIdx.x];
    }
    __syncthreads();  // red is rewritten by the next round
  }
}

__global__ void wgrad_reduce_kernel(const Conv2dParams p, const float* __restrict__ part, int64_t chunks,
                                    float* __restrict__ dw, float* __restrict__ db, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    conv2d_wgrad_depthwise_reduce_at(p, part, chunks, dw, db, i);
}

}  // namespace

size_t conv2d_wgrad_depthwise_workspace(const Conv2dParams& p) {
  return static_cast<size_t>(wgrad_depthwise_workspace_floats(p));
}

void conv2d_wgrad_depthwise(const Conv2dParams& p, const float* dy, const float* x, float* dw, float* db,
                            float* workspace, cudaStream_t stream) {
  if (p.K == 0 || (dw == nullptr && db == nullptr)) return;
  const int64_t chunks = wgrad_depthwise_chunks(p);
  if (chunks > 0) {
    const int kl = wgrad_depthwise_channel_lanes(p);
    const int64_t blocks = chunks * ((p.K + kl - 1) / kl);
    if (blocks > 0x7fffffff) throw std::invalid_argument("conv2d_wgrad_depthwise: problem too large for one grid");
    if (kl == 32)
      wgrad_partials_kernel<32><<<static_cast<unsigned>(blocks), dim3(32, kWgradBlock / 32), 0, stream>>>(
          p, dy, x, workspace, chunks, dw != nullptr, db != nullptr);
    else
      wgrad_partials_kernel<1><<<static_cast<unsigned>(blocks), dim3(1, kWgradBlock), 0, stream>>>(
          p, dy, x, workspace, chunks, dw != nullptr, db != nullptr);
    FASTCONV_CUDA_CHECK(cudaGetLastError());
  }
  const int64_t total = p.K * (p.R * p.S + 1);
  wgrad_reduce_kernel<<<grid_for(total), kThreads, 0, stream>>>(p, workspace, chunks, dw, db, total);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
