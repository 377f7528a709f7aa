// Depthwise conv2d backward-weight (wgrad) and bias grad, float32, any strides, deterministic.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, 1, R, S)   db: (K,)   K = C * M
// dw[k, r, s] = sum over (n, p, q) of dy[n, k, p, q] * x[n, k / M, p*sh - ph + r*dh, q*sw - pw + s*dw]
// db[k]       = sum over (n, p, q) of dy[n, k, p, q]
//
// Pass 1: the flattened (n, p, q) pixels are cut into chunks of kChunkPixels (a function of the
// shape only). A block owns (a group of channels, one chunk): each thread accumulates a fixed
// stride of the chunk's pixels for up to kTaps taps (plus the bias) in registers, then the block
// adds its threads' sums in a fixed tree and writes one partial per (chunk, k, tap) to workspace.
// Pass 2: one thread per (k, tap) adds the chunks' partials in chunk order. No float atomics, and no
// dependence on the GPU model or its SM count: the same bits on every run and every card.
// Taps beyond kTaps (kernels larger than 3x3) are done in further groups of the same block.
#include <cstdint>

#include "cuda/conv2d_depthwise.cuh"
#include "cuda/cuda_check.cuh"
#include "fastconv/cuda_conv.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace cuda {

namespace {

constexpr int64_t kChunkPixels = 4096;
constexpr int kTaps = 9;
constexpr int kBlock = 256;

struct Geometry {
  int64_t pixels, chunks, taps;  // taps = R * S + 1 (the last slot is the bias)
};

Geometry geometry(const Conv2dParams& p) {
  Geometry g;
  g.pixels = p.N * p.P * p.Q;
  g.chunks = (g.pixels + kChunkPixels - 1) / kChunkPixels;
  g.taps = p.R * p.S + 1;
  return g;
}

// Block: KL channel lanes (threadIdx.x) x kBlock / KL pixel lanes (threadIdx.y). KL = 32 when
// channels are contiguous (a warp reads 32 neighbouring channels), 1 otherwise (a warp reads 32
// neighbouring pixels of one channel).
template <int KL>
__global__ void __launch_bounds__(kBlock)
    wgrad_partials_kernel(const Conv2dParams p, const float* __restrict__ dy, const float* __restrict__ x,
                          float* __restrict__ part, int64_t chunks, bool want_dw, bool want_db) {
  constexpr int PL = kBlock / KL;
  __shared__ float red[kTaps + 1][kBlock];
  const int64_t chunk = blockIdx.x % chunks;
  const int64_t k = (blockIdx.x / chunks) * KL + threadIdx.x;
  const bool active = k < p.K;
  const int64_t M = p.K / p.C;
  const int64_t c = active ? k / M : 0;
  const int64_t RS = p.R * p.S;
  const int64_t T = RS + 1;
  const int64_t pixels = p.N * p.P * p.Q;
  const int64_t begin = chunk * kChunkPixels;
  const int64_t end = index::min64(pixels, begin + kChunkPixels);
  const int lane = threadIdx.y * KL + threadIdx.x;
  const int64_t groups = want_dw ? (RS + kTaps - 1) / kTaps : 1;

  for (int64_t g = 0; g < groups; ++g) {
    const int64_t t0 = g * kTaps;
    const int nt = want_dw ? static_cast<int>(index::min64(kTaps, RS - t0)) : 0;
    const bool bias = want_db && g == 0;
    int64_t tap_h[kTaps], tap_w[kTaps];
#pragma unroll
    for (int j = 0; j < kTaps; ++j) {
      const int64_t t = t0 + (j < nt ? j : 0);
      tap_h[j] = (t / p.S) * p.dilation_h;
      tap_w[j] = (t % p.S) * p.dilation_w;
    }
    float acc[kTaps + 1];
#pragma unroll
    for (int j = 0; j <= kTaps; ++j) acc[j] = 0.0f;
    if (active) {
      for (int64_t pix = begin + threadIdx.y; pix < end; pix += PL) {
        const int64_t q = pix % p.Q;
        const int64_t rest = pix / p.Q;
        const int64_t oh = rest % p.P;
        const int64_t n = rest / p.P;
        const float g_out = __ldg(dy + (n * p.y_strides[0] + k * p.y_strides[1] + oh * p.y_strides[2] +
                                        q * p.y_strides[3]));
        const int64_t h0 = oh * p.stride_h - p.pad_h;
        const int64_t w0 = q * p.stride_w - p.pad_w;
        const float* xp = x + (n * p.x_strides[0] + c * p.x_strides[1]);
#pragma unroll
        for (int j = 0; j < kTaps; ++j) {
          if (j < nt) {
            const int64_t h = h0 + tap_h[j], w = w0 + tap_w[j];
            if (h >= 0 && h < p.H && w >= 0 && w < p.W)
              acc[j] = fmaf(g_out, __ldg(xp + (h * p.x_strides[2] + w * p.x_strides[3])), acc[j]);
          }
        }
        acc[kTaps] += g_out;
      }
    }
    // Fixed-order tree over the pixel lanes, for every accumulator at once.
#pragma unroll
    for (int j = 0; j <= kTaps; ++j) red[j][lane] = acc[j];
    __syncthreads();
    for (int half = PL / 2; half > 0; half /= 2) {
      if (static_cast<int>(threadIdx.y) < half) {
#pragma unroll
        for (int j = 0; j <= kTaps; ++j) red[j][lane] += red[j][lane + half * KL];
      }
      __syncthreads();
    }
    if (threadIdx.y == 0 && active) {
      float* out = part + (chunk * p.K + k) * T;
      for (int j = 0; j < nt; ++j) out[t0 + j] = red[j][threadIdx.x];
      if (bias) out[RS] = red[kTaps][threadIdx.x];
    }
    __syncthreads();  // red is reused by the next tap group
  }
}

// One thread per (k, tap): the chunks' partials in chunk order.
__global__ void wgrad_reduce_kernel(const Conv2dParams p, const float* __restrict__ part, int64_t chunks,
                                    float* __restrict__ dw, float* __restrict__ db) {
  const int64_t RS = p.R * p.S;
  const int64_t T = RS + 1;
  const int64_t total = p.K * T;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = i / T, t = i % T;
    if (t < RS ? dw == nullptr : db == nullptr) continue;
    float sum = 0.0f;
    for (int64_t ch = 0; ch < chunks; ++ch) sum += part[(ch * p.K + k) * T + t];
    if (t < RS)
      dw[k * p.w_strides[0] + (t / p.S) * p.w_strides[2] + (t % p.S) * p.w_strides[3]] = sum;
    else
      db[k * p.b_stride] = sum;
  }
}

}  // namespace

size_t conv2d_wgrad_depthwise_workspace(const Conv2dParams& p) {
  const Geometry g = geometry(p);
  return static_cast<size_t>(g.chunks * p.K * g.taps);
}

void conv2d_wgrad_depthwise(const Conv2dParams& p, const float* dy, const float* x, float* dw, float* db,
                            float* workspace, cudaStream_t stream) {
  const Geometry g = geometry(p);
  if (p.K == 0 || (dw == nullptr && db == nullptr)) return;
  if (g.chunks > 0) {
    const bool channels_last = p.K > 1 && p.y_strides[1] == 1;
    const int kl = channels_last ? 32 : 1;
    const int64_t blocks = g.chunks * ((p.K + kl - 1) / kl);
    if (blocks > 0x7fffffff) throw std::invalid_argument("conv2d_wgrad_depthwise: problem too large for one grid");
    if (channels_last)
      wgrad_partials_kernel<32><<<static_cast<unsigned>(blocks), dim3(32, kBlock / 32), 0, stream>>>(
          p, dy, x, workspace, g.chunks, dw != nullptr, db != nullptr);
    else
      wgrad_partials_kernel<1><<<static_cast<unsigned>(blocks), dim3(1, kBlock), 0, stream>>>(
          p, dy, x, workspace, g.chunks, dw != nullptr, db != nullptr);
    FASTCONV_CUDA_CHECK(cudaGetLastError());
  }
  wgrad_reduce_kernel<<<grid_for(p.K * g.taps), kThreads, 0, stream>>>(p, workspace, g.chunks, dw, db);
  FASTCONV_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace fastconv
