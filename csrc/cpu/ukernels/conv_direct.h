// Direct convolution microkernels for few input channels (the first layer of an image model: C = 1
// or 3), where a GEMM's reduction (R * S * C = 9 or 27) is too short to pay for packing patches.
// Per ISA, on blocks of kDirectCols output channels, output channels contiguous (NHWC y / dy):
//
// conv_direct_fprop:  for i < count, n < cols (<= kDirectCols):
//   y[i * y_step + n] = bias[n] + sum over t < taps, in order, of x[i * x_step + x_at[t]] * wp[t * kDirectCols + n]
// wp: one block's packed filters, zero past cols; bias: kDirectCols values. The count pixels are
// the outputs of one output row, x_at[t] the offset of tap t = (r, s, c) from a pixel's first tap.
//
// conv_direct_wgrad:  for t < taps, n < cols (<= kDirectCols):
//   dw[t * kDirectCols + n] = sum over r < rows, then i < count, in order, of
//                             x[r * x_row + i * x_step + x_at[t]] * dy[r * dy_row + i * dy_step + n]
// dw columns from cols on are left unwritten; dy is never read past cols.
//
// Both sum each element in a fixed order: deterministic.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

constexpr int64_t kDirectCols = 32;

#define FASTCONV_CONV_DIRECT_DECLARE(ns, T)                                                                       \
  void conv_direct_fprop(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const T* x,             \
                         int64_t x_step, const T* wp, const T* bias, T* y, int64_t y_step);                       \
  void conv_direct_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const T* x, \
                         int64_t x_row, int64_t x_step, const T* dy, int64_t dy_row, int64_t dy_step, T* dw);
#define FASTCONV_CONV_DIRECT_NAMESPACE(ns) \
  namespace ns {                           \
  FASTCONV_CONV_DIRECT_DECLARE(ns, float)  \
  FASTCONV_CONV_DIRECT_DECLARE(ns, double) \
  }
FASTCONV_CONV_DIRECT_NAMESPACE(scalar)
FASTCONV_CONV_DIRECT_NAMESPACE(avx2)
FASTCONV_CONV_DIRECT_NAMESPACE(avx512)

// The selected ISA's kernels.
FASTCONV_CONV_DIRECT_NAMESPACE(selected)
#undef FASTCONV_CONV_DIRECT_NAMESPACE
#undef FASTCONV_CONV_DIRECT_DECLARE

}  // namespace cpu
}  // namespace fastconv
