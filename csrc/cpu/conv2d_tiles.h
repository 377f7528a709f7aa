// Building blocks shared by the portable conv2d passes: output-pixel tiles, tap coordinate tables
// and a register-blocked tile GEMM. Each pass gathers a tile of its operand into a small contiguous
// buffer (never a whole-batch im2col) and multiplies it with packed weights.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastconv/conv.h"

namespace fastconv {
namespace cpu {

// Pixels per tile. Fixed (not derived from the thread count) so that every reduction runs in the
// same order whatever the number of threads.
constexpr int64_t kTilePixels = 64;

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

// C[m][t] = sum_j A[m][j] * B[j][t] for m < M, t < kTilePixels (B rows are kTilePixels long).
// Every C element is summed over j = 0, 1, ... in order: deterministic and independent of blocking.
template <typename T>
void gemm_tile(int64_t M, int64_t J, const T* A, int64_t lda, const T* B, T* C) {
  constexpr int64_t MR = 4, NR = 16;
  for (int64_t t0 = 0; t0 < kTilePixels; t0 += NR) {
    int64_t m = 0;
    for (; m + MR <= M; m += MR) {
      T acc[MR][NR] = {};
      for (int64_t j = 0; j < J; ++j) {
        const T* b = B + j * kTilePixels + t0;
        for (int64_t i = 0; i < MR; ++i) {
          const T a = A[(m + i) * lda + j];
          for (int64_t t = 0; t < NR; ++t) acc[i][t] += a * b[t];
        }
      }
      for (int64_t i = 0; i < MR; ++i)
        for (int64_t t = 0; t < NR; ++t) C[(m + i) * kTilePixels + t0 + t] = acc[i][t];
    }
    for (; m < M; ++m) {
      T acc[NR] = {};
      for (int64_t j = 0; j < J; ++j) {
        const T a = A[m * lda + j];
        const T* b = B + j * kTilePixels + t0;
        for (int64_t t = 0; t < NR; ++t) acc[t] += a * b[t];
      }
      for (int64_t t = 0; t < NR; ++t) C[m * kTilePixels + t0 + t] = acc[t];
    }
  }
}

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
