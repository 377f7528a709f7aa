// Direct convolution kernels for the AVX2 path (see conv_direct.h): the 32 output channels in two
// halves of 16 (2 ymm each), so that a tile stays in the 16 ymm registers. fprop: tiles of 6 pixels
// (12 accumulators; 3 at a row's end); wgrad: up to 6 taps at once (12 accumulators). float64 uses
// the portable loops.
#include <immintrin.h>

#include <algorithm>

#include "conv_direct.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

#define FASTCONV_CONV_DIRECT_OWN_F32
#include "conv_direct_generic.inc"
#undef FASTCONV_CONV_DIRECT_OWN_F32

namespace {

// Lanes l < n set (all bits), the rest clear.
inline __m256i lane_mask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::clamp<int64_t>(n, 0, 8))), lanes);
}

// Pixels past `valid` recompute the last valid one (in-bounds reads) and are not stored.
template <int MR>
void fprop_tile(int64_t valid, int64_t taps, const int64_t* x_at, const float* x, int64_t x_step, const float* wp,
                __m256 b0, __m256 b1, __m256i m0, __m256i m1, float* y, int64_t y_step) {
  int64_t off[MR];
  for (int i = 0; i < MR; ++i) off[i] = std::min<int64_t>(i, valid - 1) * x_step;
  __m256 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = b0, acc1[i] = b1;
  for (int64_t t = 0; t < taps; ++t) {
    const __m256 w0 = _mm256_loadu_ps(wp + t * kDirectCols), w1 = _mm256_loadu_ps(wp + t * kDirectCols + 8);
    const float* xt = x + x_at[t];
    for (int i = 0; i < MR; ++i) {
      const __m256 v = _mm256_broadcast_ss(xt + off[i]);
      acc0[i] = _mm256_fmadd_ps(v, w0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(v, w1, acc1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    if (i >= valid) break;
    _mm256_maskstore_ps(y + i * y_step, m0, acc0[i]);
    _mm256_maskstore_ps(y + i * y_step + 8, m1, acc1[i]);
  }
}

// One half of 16 columns: wp, bias and y already offset to it.
void fprop_half(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x, int64_t x_step,
                const float* wp, const float* bias, float* y, int64_t y_step) {
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  const __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
  int64_t i = 0;
  for (; count - i >= 6; i += 6)
    fprop_tile<6>(6, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
  const int64_t left = count - i;
  if (left > 3)
    fprop_tile<6>(left, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
  else if (left > 0)
    fprop_tile<3>(left, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
}

template <int TC>
void wgrad_taps(int64_t rows, int64_t count, const int64_t* x_at, const float* x, int64_t x_row, int64_t x_step,
                const float* dy, int64_t dy_row, int64_t dy_step, __m256i m0, __m256i m1, float* dw) {
  __m256 acc0[TC], acc1[TC];
  for (int t = 0; t < TC; ++t) acc0[t] = _mm256_setzero_ps(), acc1[t] = _mm256_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_row;
    const float* dr = dy + r * dy_row;
    for (int64_t i = 0; i < count; ++i, xr += x_step, dr += dy_step) {
      const __m256 d0 = _mm256_maskload_ps(dr, m0), d1 = _mm256_maskload_ps(dr + 8, m1);
      for (int t = 0; t < TC; ++t) {
        const __m256 v = _mm256_broadcast_ss(xr + x_at[t]);
        acc0[t] = _mm256_fmadd_ps(v, d0, acc0[t]);
        acc1[t] = _mm256_fmadd_ps(v, d1, acc1[t]);
      }
    }
  }
  for (int t = 0; t < TC; ++t) {
    _mm256_maskstore_ps(dw + t * kDirectCols, m0, acc0[t]);
    _mm256_maskstore_ps(dw + t * kDirectCols + 8, m1, acc1[t]);
  }
}

void wgrad_half(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                int64_t x_row, int64_t x_step, const float* dy, int64_t dy_row, int64_t dy_step, float* dw) {
  const __m256i m0 = lane_mask(cols), m1 = lane_mask(cols - 8);
  for (int64_t t0 = 0; t0 < taps; t0 += 6) {
    const int64_t* at = x_at + t0;
    float* out = dw + t0 * kDirectCols;
    switch (std::min<int64_t>(6, taps - t0)) {
#define FASTCONV_WGRAD_CASE(tc) \
  case tc: wgrad_taps<tc>(rows, count, at, x, x_row, x_step, dy, dy_row, dy_step, m0, m1, out); break;
      FASTCONV_WGRAD_CASE(1) FASTCONV_WGRAD_CASE(2) FASTCONV_WGRAD_CASE(3)
      FASTCONV_WGRAD_CASE(4) FASTCONV_WGRAD_CASE(5) FASTCONV_WGRAD_CASE(6)
#undef FASTCONV_WGRAD_CASE
    }
  }
}

}  // namespace

void conv_direct_fprop(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_step, const float* wp, const float* bias, float* y, int64_t y_step) {
  fprop_half(count, std::min<int64_t>(cols, 16), taps, x_at, x, x_step, wp, bias, y, y_step);
  if (cols > 16) fprop_half(count, cols - 16, taps, x_at, x, x_step, wp + 16, bias + 16, y + 16, y_step);
}

void conv_direct_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_row, int64_t x_step, const float* dy, int64_t dy_row, int64_t dy_step, float* dw) {
  wgrad_half(rows, count, std::min<int64_t>(cols, 16), taps, x_at, x, x_row, x_step, dy, dy_row, dy_step, dw);
  if (cols > 16)
    wgrad_half(rows, count, cols - 16, taps, x_at, x, x_row, x_step, dy + 16, dy_row, dy_step, dw + 16);
}

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
