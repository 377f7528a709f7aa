// Shared pieces of the depthwise passes (conv2d_{fprop,dgrad,wgrad}_depthwise.cpp).
//
// Depthwise: groups == C, so output channel k = c * M + m (M = K / C, the channel multiplier) reads
// input channel c only, with its own R x S filter w[k, 0, r, s].
// Two ways through, picked per call by the memory layout:
//  - channels (x and y channel-contiguous, NHWC): vectors along channels, taps as pointers to whole
//    pixels; padding taps are dropped per output pixel (interior pixels see every tap);
//  - planes (anything else, NCHW included): one (n, c) plane at a time, copied into a zero-padded
//    buffer whose columns are split by stride phase, so that every tap reads a contiguous row
//    whatever the stride, dilation, padding or strides of the array; vectors along output columns.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fastconv/conv.h"

namespace fastconv {
namespace cpu {
namespace depthwise {

// Floor division and modulo for b > 0 (a may be negative).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// The channels path: x and y store channels contiguously, and there are enough channels to fill
// most of a vector. With fewer, most lanes would idle and the planes path, gathering the rows, is
// faster (measured on NHWC float: C = 2: 2.4x, C = 4: 1.2x; C = 8: the channels path 2x).
template <typename T>
inline bool use_channels_path(const Conv2dParams& p) {
  return p.x_strides[1] == 1 && p.y_strides[1] == 1 && p.C * static_cast<int64_t>(sizeof(T)) >= 32;
}

// 3x3 filters with unit strides and dilations whose input and output rows are unit-stride: the
// planes path reads the rows in place (dwconv_rows_3x3 masks the padding columns) instead of
// staging them. `in` and `out` are the strides of the array read and the array written (null: not
// asked, for the channels path, which reads rows in place whatever their strides).
inline bool planes_3x3_direct(const Conv2dParams& p, const int64_t* in, const int64_t* out) {
  return p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         (in == nullptr || in[3] == 1) && (out == nullptr || out[3] == 1);
}

// Output indices o in [0, out) whose tap at offset `tap` (r * dilation) reads inside [0, in):
// o * stride - pad + tap in [0, in). Returns [lo, hi) with hi >= lo.
struct Span {
  int64_t lo, hi;
};
inline Span valid_outputs(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t tap) {
  const int64_t lo = std::min(out, std::max<int64_t>(0, ceil_div(pad - tap, stride)));
  const int64_t hi = std::min<int64_t>(out, floor_div(in - 1 + pad - tap, stride) + 1);
  return {lo, std::max(lo, hi)};
}

// Output columns that every column tap s < S reads inside the input: the interior of a row.
inline Span interior_outputs(const Conv2dParams& p) {
  const Span first = valid_outputs(p.W, p.Q, p.stride_w, p.pad_w, 0);
  const Span last = valid_outputs(p.W, p.Q, p.stride_w, p.pad_w, (p.S - 1) * p.dilation_w);
  const int64_t lo = std::max(first.lo, last.lo), hi = std::min(first.hi, last.hi);
  return {lo, std::max(lo, hi)};
}

// The phase-split row of the planes path. Padded column u = v + pad (v an input column) lives in
// phase u % stride at index u / stride; each phase holds `len` indices. Output column q's tap at
// offset d (s * dilation) reads padded column q * stride + d: phase d % stride, index q + d / stride,
// so consecutive q are consecutive in memory.
struct PhaseRow {
  int64_t stride, pad, len;

  int64_t size() const { return stride * len; }
  int64_t offset(int64_t d) const { return (d % stride) * len + d / stride; }

  // dst[...] = the row src[v * src_stride], v < width, zero-padded.
  template <typename T>
  void fill(const T* src, int64_t src_stride, int64_t width, T* dst) const {
    if (stride == 1 && src_stride == 1) {
      const int64_t a = std::min(pad, len), n = std::max<int64_t>(0, std::min(width, len - pad));
      std::fill(dst, dst + a, T(0));
      if (n > 0) std::memcpy(dst + pad, src, static_cast<size_t>(n) * sizeof(T));
      std::fill(dst + a + n, dst + len, T(0));
      return;
    }
    for (int64_t f = 0; f < stride; ++f) {
      T* d = dst + f * len;
      // v = f + stride * i - pad inside [0, width)
      const int64_t lo = std::min(len, std::max<int64_t>(0, ceil_div(pad - f, stride)));
      const int64_t hi = std::max(lo, std::min(len, floor_div(width - 1 + pad - f, stride) + 1));
      std::fill(d, d + lo, T(0));
      const T* s = src + (f + stride * lo - pad) * src_stride;
      const int64_t step = stride * src_stride;
      for (int64_t i = lo; i < hi; ++i, s += step) d[i] = *s;
      std::fill(d + hi, d + len, T(0));
    }
  }
};

// Rows of one band: the largest count >= 1 whose staged buffer
// (rows_per_band - 1) * step + extra + 1 rows of `row_elems` stays under `budget` elements.
inline int64_t band_rows(int64_t total, int64_t step, int64_t extra, int64_t row_elems, int64_t budget) {
  const int64_t rows_fit = budget / std::max<int64_t>(1, row_elems);
  const int64_t band = (rows_fit - extra - 1) / std::max<int64_t>(1, step) + 1;
  return std::max<int64_t>(1, std::min(total, band));
}

// Prefetches the cache lines of n elements at a stride (whole lines when the stride is 1).
template <typename T>
inline void prefetch_row(const T* p, int64_t n, int64_t stride, bool for_write = false) {
  const char* a = reinterpret_cast<const char*>(p);
  const int64_t step = stride == 1 ? 64 : stride * static_cast<int64_t>(sizeof(T));
  const int64_t bytes = n * stride * static_cast<int64_t>(sizeof(T));
  if (step <= 0) return;
  for (int64_t off = 0; off < bytes; off += step) {
    if (for_write) __builtin_prefetch(a + off, 1, 3);
    else __builtin_prefetch(a + off, 0, 3);
  }
}

// A row of zeros standing in for a padding row on the channels path: `width` pixels `pix` elements
// apart (pix may be negative: the row runs backwards from its first pixel), `channels` each.
template <typename T>
struct ZeroRow {
  std::vector<T> buf;
  const T* row;
  ZeroRow(int64_t width, int64_t pix, int64_t channels)
      : buf(static_cast<size_t>(std::max<int64_t>(0, width - 1) * (pix < 0 ? -pix : pix) + channels), T(0)),
        row(buf.data() + (pix < 0 ? std::max<int64_t>(0, width - 1) * -pix : 0)) {}
};

// dwconv_channels_3x3's row pointers for the band of output rows [p0, p1) of image n on the rows of
// an (N, rows, ...) array at `base` (image stride img, row stride rs): in[u] = the row of index
// p0 + off + u (a row of zeros outside [0, rows)), u < p1 - p0 + 2; then the two rows the following
// band (the next image's first one after the last) reads first beyond those, null where there are
// none, for the kernel to fetch ahead.
template <typename T>
inline void channels_band_rows(const T* base, int64_t img, int64_t rs, int64_t N, int64_t rows, int64_t n,
                               int64_t p0, int64_t p1, int64_t P, int64_t off, const T* zeros, const T** in) {
  for (int64_t u = 0; u < p1 - p0 + 2; ++u) {
    const int64_t h = p0 + off + u;
    in[u] = h < 0 || h >= rows ? zeros : base + n * img + h * rs;
  }
  const int64_t n2 = p1 < P ? n : n + 1, q0 = p1 < P ? p1 : 0;
  for (int64_t u = 2; u < 4; ++u) {
    const int64_t h = q0 + off + u;
    in[p1 - p0 + u] = n2 >= N || h < 0 || h >= rows ? nullptr : base + n2 * img + h * rs;
  }
}

constexpr int64_t kDirectBandRows = 32;      // output rows per task of the in-place 3x3 planes path
constexpr int64_t kStageBudget = 16384;      // elements per staged band (64 KiB of float)
constexpr int64_t kWgradChunkPixels = 2048;  // output pixels per wgrad partial sum (fixed: determinism)

}  // namespace depthwise
}  // namespace cpu
}  // namespace fastconv
