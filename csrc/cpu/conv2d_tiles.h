// Building blocks shared by the conv2d passes: output-pixel tiles, tap coordinate tables
// and the tile GEMM (ukernels/gemm.h). Each pass gathers a tile of its operand into a small contiguous
// buffer (never a whole-batch im2col) and multiplies it with packed weights. kTilePixels is fixed,
// not derived from the thread count, so every reduction runs in the same order for any thread count.
#pragma once

#include <algorithm>
#include <limits>
#include <cstdint>
#include <vector>

#include "fastconv/conv.h"
#include "ukernels/gemm.h"

namespace fastconv {
namespace cpu {

// For `count` consecutive output pixels starting at pix0, counted over the whole batch (row-major
// over (n, p, q): small images share a tile instead of leaving most of it empty), where each filter
// tap (r, s) reads in channel 0's plane of x: offset[(r * S + s) * width + t] is the element offset
// n * stride_n + h * stride_h + w * stride_w, or kNoTap where the tap falls in the padding or
// t >= count (offsets themselves may be negative: views with negative strides). out_offset[t] is
// the pixel's offset from channel 0 of the output. Computed once per tile and shared by every
// channel, so the gathers below are a load and a select per element.
constexpr int64_t kNoTap = std::numeric_limits<int64_t>::min();

struct TapTable {
  std::vector<int64_t> offset, out_offset;

  void build(const Conv2dParams& p, int64_t pix0, int64_t count, int64_t width, const int64_t* in_strides,
             const int64_t* out_strides) {
    const int64_t RS = p.R * p.S, PQ = p.P * p.Q;
    offset.assign(RS * width, kNoTap);
    out_offset.assign(width, 0);
    for (int64_t t = 0; t < count; ++t) {
      const int64_t n = (pix0 + t) / PQ, pq = (pix0 + t) % PQ, oh = pq / p.Q, ow = pq % p.Q;
      out_offset[t] = n * out_strides[0] + oh * out_strides[2] + ow * out_strides[3];
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t h = oh * p.stride_h - p.pad_h + r * p.dilation_h;
        if (h < 0 || h >= p.H) continue;
        for (int64_t s = 0; s < p.S; ++s) {
          const int64_t w = ow * p.stride_w - p.pad_w + s * p.dilation_w;
          if (w >= 0 && w < p.W)
            offset[(r * p.S + s) * width + t] = n * in_strides[0] + h * in_strides[2] + w * in_strides[3];
        }
      }
    }
  }
};

// dst[t] = plane[offset[t]], or 0 where offset[t] is kNoTap.
template <typename T>
inline void gather_row(const T* plane, const int64_t* offset, int64_t width, T* dst) {
  for (int64_t t = 0; t < width; ++t) dst[t] = offset[t] != kNoTap ? plane[offset[t]] : T(0);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cpu
}  // namespace fastconv
