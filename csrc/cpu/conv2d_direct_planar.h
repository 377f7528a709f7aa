// Shared set-up of the planar direct convolution (conv2d_fprop_direct_planar.cpp,
// conv2d_wgrad_direct_planar.cpp): the input rows a block of output rows reads, copied with their
// padding into a buffer split by column phase (stride_w interleaved sub-rows: padded column
// j * stride_w + phase sits at [phase][j]), so that each tap (c, r, s) of an output row is one
// contiguous run of the buffer: phase (s * dilation_w) % stride_w from column (s * dilation_w) / stride_w.
#pragma once

#include <algorithm>
#include <cstdint>

#include "conv2d_tiles.h"
#include "fastconv/conv.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {
namespace cpu {

// The buffer of one task: C planes of `rows` padded input rows, each row stride_w phases of
// `phase_len` values (the columns a row of Q outputs reads, then kPlanarPad of slack for the
// kernel's whole-vector reads).
struct PhaseRows {
  int64_t cols, phase_len, row_len;
  explicit PhaseRows(const Conv2dParams& p)
      : cols(p.Q + (p.S - 1) * p.dilation_w / p.stride_w),
        phase_len(cols + kPlanarPad),
        row_len(p.stride_w * phase_len) {}

  // Padded input rows hp0 .. hp0 + rows of image n, channel-major, zeros in the padding.
  template <typename T>
  void load(const Conv2dParams& p, const T* x, int64_t n, int64_t hp0, int64_t rows, T* buf) const {
    const int64_t* xs = p.x_strides;
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t h = hp0 + i - p.pad_h;
        T* row = buf + (c * rows + i) * row_len;
        if (h < 0 || h >= p.H) {
          std::fill(row, row + row_len, T(0));
          continue;
        }
        const T* src = x + n * xs[0] + c * xs[1] + h * xs[2];
        for (int64_t ph = 0; ph < p.stride_w; ++ph) {
          T* dst = row + ph * phase_len;
          // Padded column j * stride_w + ph is input column w = j * stride_w + ph - pad_w.
          const int64_t w0 = ph - p.pad_w;
          const int64_t j_lo = std::min(cols, std::max<int64_t>(0, ceil_div(-w0, p.stride_w)));
          const int64_t j_hi = std::max(j_lo, std::min(cols, ceil_div(p.W - w0, p.stride_w)));
          std::fill(dst, dst + j_lo, T(0));
          const T* s = src + (j_lo * p.stride_w + w0) * xs[3];
          const int64_t step = p.stride_w * xs[3];
          for (int64_t j = j_lo; j < j_hi; ++j, s += step) dst[j] = *s;
          std::fill(dst + j_hi, dst + phase_len, T(0));
        }
      }
  }
};

// Offset of tap (c, r, s) from an output row's first buffer row, with `rows` buffer rows per channel.
inline int64_t phase_rows_tap(const Conv2dParams& p, const PhaseRows& layout, int64_t rows, int64_t c, int64_t r,
                              int64_t s) {
  return (c * rows + r * p.dilation_h) * layout.row_len + (s * p.dilation_w) % p.stride_w * layout.phase_len +
         (s * p.dilation_w) / p.stride_w;
}

}  // namespace cpu
}  // namespace fastconv
