// Direct convolution kernels for the AVX-512 path (see conv_direct.h): 32 output channels in 2 zmm.
// fprop: tiles of 12 pixels (24 accumulators; 8 or 4 at a row's end), per tap 2 filter loads and one
// broadcast per pixel. wgrad: up to 12 taps at once (24 accumulators), per pixel 2 dy loads and one
// broadcast per tap. float64 uses the portable loops.
#include <immintrin.h>

#include <algorithm>

#include "conv_direct.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#define FASTCONV_CONV_DIRECT_OWN_F32
#include "conv_direct_generic.inc"
#undef FASTCONV_CONV_DIRECT_OWN_F32

namespace {

inline __mmask16 lane_mask(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max<int64_t>(n, 0)) - 1); }

// Pixels past `valid` recompute the last valid one (in-bounds reads) and are not stored.
template <int MR>
void fprop_tile(int64_t valid, int64_t taps, const int64_t* x_at, const float* x, int64_t x_step, const float* wp,
                __m512 b0, __m512 b1, __mmask16 m0, __mmask16 m1, float* y, int64_t y_step) {
  int64_t off[MR];
  for (int i = 0; i < MR; ++i) off[i] = std::min<int64_t>(i, valid - 1) * x_step;
  __m512 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; ++i) acc0[i] = b0, acc1[i] = b1;
  for (int64_t t = 0; t < taps; ++t) {
    const __m512 w0 = _mm512_loadu_ps(wp + t * kDirectCols), w1 = _mm512_loadu_ps(wp + t * kDirectCols + 16);
    const float* xt = x + x_at[t];
    for (int i = 0; i < MR; ++i) {
      const __m512 v = _mm512_set1_ps(xt[off[i]]);
      acc0[i] = _mm512_fmadd_ps(v, w0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(v, w1, acc1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    if (i >= valid) break;
    _mm512_mask_storeu_ps(y + i * y_step, m0, acc0[i]);
    _mm512_mask_storeu_ps(y + i * y_step + 16, m1, acc1[i]);
  }
}

template <int TC>
void wgrad_taps(int64_t rows, int64_t count, const int64_t* x_at, const float* x, int64_t x_row, int64_t x_step,
                const float* dy, int64_t dy_row, int64_t dy_step, __mmask16 m0, __mmask16 m1, float* dw) {
  __m512 acc0[TC], acc1[TC];
  for (int t = 0; t < TC; ++t) acc0[t] = _mm512_setzero_ps(), acc1[t] = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_row;
    const float* dr = dy + r * dy_row;
    for (int64_t i = 0; i < count; ++i, xr += x_step, dr += dy_step) {
      const __m512 d0 = _mm512_maskz_loadu_ps(m0, dr), d1 = _mm512_maskz_loadu_ps(m1, dr + 16);
      for (int t = 0; t < TC; ++t) {
        const __m512 v = _mm512_set1_ps(xr[x_at[t]]);
        acc0[t] = _mm512_fmadd_ps(v, d0, acc0[t]);
        acc1[t] = _mm512_fmadd_ps(v, d1, acc1[t]);
      }
    }
  }
  for (int t = 0; t < TC; ++t) {
    _mm512_mask_storeu_ps(dw + t * kDirectCols, m0, acc0[t]);
    _mm512_mask_storeu_ps(dw + t * kDirectCols + 16, m1, acc1[t]);
  }
}

}  // namespace

void conv_direct_fprop(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_step, const float* wp, const float* bias, float* y, int64_t y_step) {
  const __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16);
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  int64_t i = 0;
  for (; count - i >= 12; i += 12)
    fprop_tile<12>(12, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
  const int64_t left = count - i;
  if (left > 8)
    fprop_tile<12>(left, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
  else if (left > 4)
    fprop_tile<8>(left, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
  else if (left > 0)
    fprop_tile<4>(left, taps, x_at, x + i * x_step, x_step, wp, b0, b1, m0, m1, y + i * y_step, y_step);
}

void conv_direct_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_row, int64_t x_step, const float* dy, int64_t dy_row, int64_t dy_step, float* dw) {
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  for (int64_t t0 = 0; t0 < taps; t0 += 12) {
    const int64_t* at = x_at + t0;
    float* out = dw + t0 * kDirectCols;
    switch (std::min<int64_t>(12, taps - t0)) {
#define FASTCONV_WGRAD_CASE(tc) \
  case tc: wgrad_taps<tc>(rows, count, at, x, x_row, x_step, dy, dy_row, dy_step, m0, m1, out); break;
      FASTCONV_WGRAD_CASE(1) FASTCONV_WGRAD_CASE(2) FASTCONV_WGRAD_CASE(3) FASTCONV_WGRAD_CASE(4)
      FASTCONV_WGRAD_CASE(5) FASTCONV_WGRAD_CASE(6) FASTCONV_WGRAD_CASE(7) FASTCONV_WGRAD_CASE(8)
      FASTCONV_WGRAD_CASE(9) FASTCONV_WGRAD_CASE(10) FASTCONV_WGRAD_CASE(11) FASTCONV_WGRAD_CASE(12)
#undef FASTCONV_WGRAD_CASE
    }
  }
}

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
