// Direct convolution kernels on planar rows (pixels contiguous), for layers with few channels on
// one side: the forward pass of a first layer (C <= 4) into NCHW output, and the stride-phase form
// of such a layer's gradient with respect to x. Pixels fill the vector lanes and each filter value
// is broadcast, so output rows come out contiguous with no transpose.
//
// conv_direct_planar:  for n < cols (<= kPlanarCols), i < count:
//   y[n * y_plane + i] = bias[n] (0 where bias is null)
//                        + sum over t < taps, in order, of x[x_at[t] + i] * wp[t * kPlanarCols + n]
// x is read at x_at[t] + i for i < count rounded up to kPlanarPad: callers pad their rows so those
// reads stay inside the buffer (the lanes past count are computed and not stored). wp: one block of
// packed filters, kPlanarCols per tap (entries past cols are not read).
//
// conv_direct_planar_wgrad:  for t < taps, n < cols (<= kPlanarCols):
//   dw[t * kPlanarCols + n] += sum over r < rows, i < count of
//                              x[r * x_row + x_at[t] + i] * dy[n * dy_plane + r * dy_row + i]
// (the gradient of the weights: dy's planes against the same tap runs of x). Neither x nor dy is
// read past count in a row; dw entries past cols are left alone.
//
// conv_direct_planar_stage:  for i < rows, j < lead + cols:
//   dst[i * (lead + cols) + j] = j < lead ? 0 : src[i * src_row + j - lead]
// (rows of unit-stride values packed with `lead` zeros in front of each, the flat rows that the
// kernels above then read as one long row).
//
// Each output is one sum in a fixed order: deterministic.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

constexpr int64_t kPlanarCols = 4;
constexpr int64_t kPlanarPad = 16;  // widest vector, in elements (16 floats in a zmm)

#define FASTCONV_CONV_DIRECT_PLANAR_DECLARE(T)                                                           \
  void conv_direct_planar(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const T* x, \
                          const T* wp, const T* bias, T* y, int64_t y_plane);                   \
  void conv_direct_planar_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, \
                                const T* x, int64_t x_row, const T* dy, int64_t dy_plane, int64_t dy_row, T* dw); \
  void conv_direct_planar_stage(int64_t rows, int64_t cols, int64_t lead, const T* src, int64_t src_row, T* dst);
#define FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE(ns) \
  namespace ns {                                  \
  FASTCONV_CONV_DIRECT_PLANAR_DECLARE(float)      \
  FASTCONV_CONV_DIRECT_PLANAR_DECLARE(double)     \
  }
FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE(scalar)
FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE(avx2)
FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE(avx512)

// The selected ISA's kernels.
FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE(selected)
#undef FASTCONV_CONV_DIRECT_PLANAR_NAMESPACE
#undef FASTCONV_CONV_DIRECT_PLANAR_DECLARE

}  // namespace cpu
}  // namespace fastconv
