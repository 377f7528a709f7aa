// Building blocks shared by the conv2d passes: output-pixel tiles, tap coordinate tables
// and the tile GEMM (ukernels/gemm.h). Each pass gathers a tile of its operand into a small contiguous
// buffer (never a whole-batch im2col) and multiplies it with packed weights. kTilePixels is fixed,
// not derived from the thread count, so every reduction runs in the same order for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastconv/conv.h"
#include "ukernels/gemm.h"

namespace fastconv {
namespace cpu {

// For the pixels t of one tile of a (rows x cols) output grid, the input row (col) that tap r (s)
// reads, or -1 where that tap falls in the padding:
//   row[r * kTilePixels + t] = p(t) * stride - pad + r * dilation   if inside [0, extent)
struct TapTable {
  std::vector<int64_t> row, col;

  void build(int64_t pix0, int64_t count, int64_t out_cols, int64_t taps_r, int64_t taps_s, int64_t stride_h,
             int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t extent_h,
             int64_t extent_w) {
    row.assign(taps_r * kTilePixels, -1);
    col.assign(taps_s * kTilePixels, -1);
    for (int64_t t = 0; t < count; ++t) {
      const int64_t p = (pix0 + t) / out_cols, q = (pix0 + t) % out_cols;
      for (int64_t r = 0; r < taps_r; ++r) {
        const int64_t h = p * stride_h - pad_h + r * dil_h;
        row[r * kTilePixels + t] = (h >= 0 && h < extent_h) ? h : -1;
      }
      for (int64_t s = 0; s < taps_s; ++s) {
        const int64_t w = q * stride_w - pad_w + s * dil_w;
        col[s * kTilePixels + t] = (w >= 0 && w < extent_w) ? w : -1;
      }
    }
  }
};

// sum_t a[t] * b[t] over one tile in 8 fixed lanes, then the lanes in a fixed order.
template <typename T>
inline T dot_tile(const T* a, const T* b) {
  T lane[8] = {};
  for (int64_t t = 0; t < kTilePixels; t += 8)
    for (int64_t l = 0; l < 8; ++l) lane[l] += a[t + l] * b[t + l];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace cpu
}  // namespace fastconv
