// Shared set-up of the direct few-channel convolution (conv2d_fprop_direct_few_channels.cpp,
// conv2d_wgrad_direct_few_channels.cpp): the input rows a block of output rows reads, copied with
// their padding into a dense (rows, width, C) buffer, so that every filter tap (r, s, c) is one fixed
// offset from its output pixel's first tap whatever the input's strides and padding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastconv/conv.h"

namespace fastconv {
namespace cpu {

struct FewChannelRows {
  int64_t width;        // buffer pixels per row: what the Q outputs of a row read
  int64_t row_stride;   // elements from one output row's first tap to the next one's
  int64_t pixel_step;   // elements from one output pixel's first tap to the next one's
  std::vector<int64_t> tap_at;  // (r, s, c) -> offset from the first tap

  explicit FewChannelRows(const Conv2dParams& p)
      : width((p.Q - 1) * p.stride_w + (p.S - 1) * p.dilation_w + 1),
        row_stride(p.stride_h * width * p.C),
        pixel_step(p.stride_w * p.C) {
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s)
        for (int64_t c = 0; c < p.C; ++c) tap_at.push_back((r * p.dilation_h * width + s * p.dilation_w) * p.C + c);
  }

  int64_t buffer_rows(const Conv2dParams& p, int64_t out_rows) const {
    return (out_rows - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
  }

  // Copies the input rows that output rows p0 .. p0 + out_rows of image n read into buf, zeros where
  // they fall in the padding.
  template <typename T>
  void load(const Conv2dParams& p, const T* x, int64_t n, int64_t p0, int64_t out_rows, T* buf) const {
    const int64_t* xs = p.x_strides;
    const int64_t rows = buffer_rows(p, out_rows), h0 = p0 * p.stride_h - p.pad_h;
    for (int64_t i = 0; i < rows; ++i) {
      T* dst = buf + i * width * p.C;
      const int64_t h = h0 + i;
      if (h < 0 || h >= p.H) {
        std::fill(dst, dst + width * p.C, T(0));
        continue;
      }
      const T* src = x + n * xs[0] + h * xs[2];
      for (int64_t v = 0; v < width; ++v) {
        const int64_t w = v - p.pad_w;
        for (int64_t c = 0; c < p.C; ++c) dst[v * p.C + c] = (w >= 0 && w < p.W) ? src[w * xs[3] + c * xs[1]] : T(0);
      }
    }
  }
};

}  // namespace cpu
}  // namespace fastconv
