// The per-element bodies of the CUDA depthwise kernels (csrc/cuda/conv2d_*_depthwise.cu), shared
// with the CPU extension's serial emulation (_C._emulate_cuda_*, tests/test_gpu_interop.py).
// Depthwise: groups == C, K = C * M; output channel k reads input channel k / M with its own
// R x S filter w[k, 0, r, s].
//   x, dx: (N, C, H, W)   w, dw: (K, 1, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)   any strides
#pragma once

#include <cmath>
#include <cstdint>

#include "fastconv/conv.h"
#include "fastconv/host_device.h"
#include "fastconv/pool2d_gpu_elements.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace gpu_elements {

// The divisors of the element kernels (pool2d_gpu_elements.h's ElementIndex) for a depthwise
// convolution walking an (N, C, H, W) tensor.
template <typename I>
ElementIndex<I> depthwise_element_index(const Conv2dParams& p, int64_t C, int64_t H, int64_t W, bool channels_last) {
  ElementIndex<I> e;
  e.walk = index::make_walk<I>(C, H, W, channels_last);
  e.stride_h = index::Divider<I>(p.stride_h);
  e.stride_w = index::Divider<I>(p.stride_w);
  e.dilation_h = index::Divider<I>(p.dilation_h);
  e.dilation_w = index::Divider<I>(p.dilation_w);
  e.multiplier = index::Divider<I>(p.C > 0 ? p.K / p.C : 1);
  return e;
}

// y at output i (walk order: q fastest, or k fastest when channels_last): the taps inside the
// input in row-major (r, s) order with fmaf, then the bias (b may be null). Index width I as in
// pool2d_gpu_elements.h.
template <typename I>
FASTCONV_HOST_DEVICE void conv2d_fprop_depthwise_at(const Conv2dParams& p, const ElementIndex<I>& ix,
                                                    const float* __restrict__ x, const float* __restrict__ w,
                                                    const float* __restrict__ b, float* y, I i, bool channels_last) {
  const index::Coord4Of<I> o = index::unravel(i, ix.walk, channels_last);
  const I c = ix.multiplier.div(o.c);
  const I dh = I(p.dilation_h), dw = I(p.dilation_w);
  const I xs2 = I(p.x_strides[2]), xs3 = I(p.x_strides[3]);
  const I ws2 = I(p.w_strides[2]), ws3 = I(p.w_strides[3]);
  const I h0 = o.h * I(p.stride_h) - I(p.pad_h);
  const I w0 = o.w * I(p.stride_w) - I(p.pad_w);
  const index::RangeOf<I> rr = index::inside_taps(h0, I(p.R), ix.dilation_h, I(p.H));
  const index::RangeOf<I> sr = index::inside_taps(w0, I(p.S), ix.dilation_w, I(p.W));
  const float* xp = x + (o.n * I(p.x_strides[0]) + c * I(p.x_strides[1]));
  const float* wp = w + o.c * I(p.w_strides[0]);
  float acc = 0.0f;
  for (I r = rr.lo; r < rr.hi; ++r) {
    const float* xr = xp + (h0 + r * dh) * xs2;
    const float* wr = wp + r * ws2;
    for (I s = sr.lo; s < sr.hi; ++s)
      acc = fmaf(FASTCONV_LDG(xr + (w0 + s * dw) * xs3), FASTCONV_LDG(wr + s * ws3), acc);
  }
  if (b) acc += FASTCONV_LDG(b + o.c * I(p.b_stride));
  y[index::offset4(p.y_strides, o)] = acc;
}

// dx at input element i (x_strides describe dx): for each of its M output channels and each tap
// that maps it to an output inside (P, Q), dy * w, in (m, r, s) order with fmaf.
template <typename I>
FASTCONV_HOST_DEVICE void conv2d_dgrad_depthwise_at(const Conv2dParams& p, const ElementIndex<I>& ix,
                                                    const float* __restrict__ dy, const float* __restrict__ w,
                                                    float* dx, I i, bool channels_last) {
  const I M = ix.multiplier.divisor();
  const index::Coord4Of<I> e = index::unravel(i, ix.walk, channels_last);
  const I dh = I(p.dilation_h), dw = I(p.dilation_w), ph = I(p.pad_h), pw = I(p.pad_w), P = I(p.P), Q = I(p.Q);
  const I ys2 = I(p.y_strides[2]), ys3 = I(p.y_strides[3]);
  const I ws2 = I(p.w_strides[2]), ws3 = I(p.w_strides[3]);
  float acc = 0.0f;
  for (I m = 0; m < M; ++m) {
    const I k = e.c * M + m;
    const float* dyp = dy + (e.n * I(p.y_strides[0]) + k * I(p.y_strides[1]));
    const float* wp = w + k * I(p.w_strides[0]);
    for (I r = 0; r < I(p.R); ++r) {
      const I oh = index::tap_output(e.h, r * dh, ix.stride_h, ph, P);
      if (oh < 0) continue;
      for (I s = 0; s < I(p.S); ++s) {
        const I ow = index::tap_output(e.w, s * dw, ix.stride_w, pw, Q);
        if (ow < 0) continue;
        acc = fmaf(FASTCONV_LDG(dyp + (oh * ys2 + ow * ys3)), FASTCONV_LDG(wp + (r * ws2 + s * ws3)), acc);
      }
    }
  }
  dx[index::offset4(p.x_strides, e)] = acc;
}

// --- wgrad: pass 1 accumulates, per thread, a fixed stride of one chunk's pixels for a group of up
// to kWgradTaps taps (and the bias); pass 2 adds the chunks' partials in order.
constexpr int kWgradTaps = 9;
constexpr int kWgradBlock = 256;
constexpr int64_t kWgradPixelsPerLane = 16;  // pixels each thread adds per chunk

// A pass-1 block is (channel lanes) x (kWgradBlock / channel lanes pixel lanes): 32 channel lanes
// when channels are contiguous (a warp reads 32 neighbouring channels), else 1 (a warp reads 32
// neighbouring pixels of one channel). Its threads' sums are added over the pixel lanes in a fixed
// tree: lane y += lane y + half, for half = pixel lanes / 2, ..., 1.
FASTCONV_HOST_DEVICE int wgrad_depthwise_channel_lanes(const Conv2dParams& p) {
  return p.K > 1 && p.y_strides[1] == 1 ? 32 : 1;
}

// Pixels per chunk: kWgradPixelsPerLane per pixel lane, so that both block shapes give every
// thread the same work and the grid as many blocks (a function of the shape and layout only).
FASTCONV_HOST_DEVICE int64_t wgrad_depthwise_chunk_pixels(const Conv2dParams& p) {
  return kWgradPixelsPerLane * (kWgradBlock / wgrad_depthwise_channel_lanes(p));
}

// Number of chunks the (n, p, q) pixels are cut into.
FASTCONV_HOST_DEVICE int64_t wgrad_depthwise_chunks(const Conv2dParams& p) {
  const int64_t size = wgrad_depthwise_chunk_pixels(p);
  return (p.N * p.P * p.Q + size - 1) / size;
}

// Floats of workspace the two passes need: one partial per (chunk, k, tap or bias).
FASTCONV_HOST_DEVICE int64_t wgrad_depthwise_workspace_floats(const Conv2dParams& p) {
  return wgrad_depthwise_chunks(p) * p.K * (p.R * p.S + 1);
}

// Adds pixel `pix` (flattened (n, p, q), q fastest) of output channel k to acc[0..nt) (taps t0 + j,
// offsets tap_h[j], tap_w[j]) and acc[kWgradTaps] (the bias).
FASTCONV_HOST_DEVICE void conv2d_wgrad_depthwise_pixel(const Conv2dParams& p, const float* __restrict__ dy,
                                                       const float* __restrict__ x, int64_t k, int64_t c,
                                                       int64_t pix, int nt, const int64_t* tap_h,
                                                       const int64_t* tap_w, float* acc) {
  int64_t q, oh;
  const int64_t n = index::divmod_nonneg(index::divmod_nonneg(pix, p.Q, q), p.P, oh);
  const float g = FASTCONV_LDG(dy + (n * p.y_strides[0] + k * p.y_strides[1] + oh * p.y_strides[2] + q * p.y_strides[3]));
  const int64_t h0 = oh * p.stride_h - p.pad_h;
  const int64_t w0 = q * p.stride_w - p.pad_w;
  const float* xp = x + (n * p.x_strides[0] + c * p.x_strides[1]);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int j = 0; j < kWgradTaps; ++j) {
    if (j < nt) {
      const int64_t h = h0 + tap_h[j], w = w0 + tap_w[j];
      if (h >= 0 && h < p.H && w >= 0 && w < p.W)
        acc[j] = fmaf(g, FASTCONV_LDG(xp + (h * p.x_strides[2] + w * p.x_strides[3])), acc[j]);
    }
  }
  acc[kWgradTaps] += g;
}

// Tap offsets of group g (taps g * kWgradTaps + j, j < nt; unused slots repeat tap g * kWgradTaps).
FASTCONV_HOST_DEVICE int wgrad_depthwise_tap_group(const Conv2dParams& p, int64_t g, bool want_dw, int64_t* tap_h,
                                                   int64_t* tap_w) {
  const int64_t RS = p.R * p.S;
  const int64_t t0 = g * kWgradTaps;
  const int nt = want_dw ? static_cast<int>(index::min64(kWgradTaps, RS - t0)) : 0;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int j = 0; j < kWgradTaps; ++j) {
    const int64_t t = t0 + (j < nt ? j : 0);
    tap_h[j] = (t / p.S) * p.dilation_h;
    tap_w[j] = (t % p.S) * p.dilation_w;
  }
  return nt;
}

// Pass 2 at i = k * (R*S + 1) + t: the chunks' partials part[(chunk * K + k) * (R*S + 1) + t] in
// chunk order, into dw[k, 0, r, s] (t < R*S) or db[k] (t == R*S); a null target is skipped.
FASTCONV_HOST_DEVICE void conv2d_wgrad_depthwise_reduce_at(const Conv2dParams& p, const float* __restrict__ part,
                                                           int64_t chunks, float* dw, float* db, int64_t i) {
  const int64_t RS = p.R * p.S;
  const int64_t T = RS + 1;
  int64_t t;
  const int64_t k = index::divmod_nonneg(i, T, t);
  if (t < RS ? dw == nullptr : db == nullptr) return;
  float sum = 0.0f;
  for (int64_t ch = 0; ch < chunks; ++ch) sum += part[(ch * p.K + k) * T + t];
  if (t < RS)
    dw[k * p.w_strides[0] + (t / p.S) * p.w_strides[2] + (t % p.S) * p.w_strides[3]] = sum;
  else
    db[k * p.b_stride] = sum;
}

}  // namespace gpu_elements
}  // namespace fastconv
