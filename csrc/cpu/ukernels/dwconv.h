// Depthwise convolution inner loops, per ISA (conv2d_*_depthwise.cpp build the pointers).
//
// Two shapes of loop, for the two memory layouts:
//  rows     (NCHW planes: one scalar weight per tap, vectors along a contiguous row of pixels)
//    dwconv_rows:          out[i*out_rs + q] = bias + sum_t w[t] * in[t][i*in_rs + q]   i < rows, q < count
//    dwconv_rows_3x3:      dwconv_rows for a 3x3 grid of taps whose rows are one output row apart:
//                          out[i*out_rs + q] = bias + sum_{r,s} w[r*3 + s] * X(in[i + r], q + col_off[s])
//                          with X(row, v) = row[v] for 0 <= v < width, else 0 (in: rows + 2 pointers;
//                          columns outside [0, width) are never read)
//    dwconv_rows_3x3_wgrad: the weight and bias gradient of dwconv_rows_3x3 (same in, col_off, width):
//                          res[r*3 + s] = sum_{i < rows, q < count} dy[i*dy_rs + q] * X(in[i + r], q + col_off[s]),
//                          res[9] = sum dy[i*dy_rs + q]
//    dwconv_rows_wgrad:    res[t] = sum_{i < rows} sum_{q < count} dy[i*dy_rs + q] * in[t][i*in_rs + q]
//  channels (NHWC: one weight vector per tap, vectors along contiguous channels)
//    dwconv_channels:      out[j*ops + k] = (bias ? bias[k] : 0) + sum_t w[t][k] * in[t][j*ips + k]
//                          j < count, k < kc
//    dwconv_channels_3x3:  3x3, unit strides: out[i*out_rs + q*ops + k] = (bias ? bias[k] : 0) +
//                          sum_{r,s} w[(r*3 + s)*kc + k] * X(in[i + r], q + s + col0)[k], where
//                          X(row, v) = row + v*pix for 0 <= v < width, else zeros (never read);
//                          in: rows + 4 row pointers, i < rows, q < count, k < kc; the last two
//                          (null: none) are the rows a next call reads first, which the loop fetches
//                          into L2 as it goes (as it does each block's next rows); stream: store
//                          whole vectors non-temporally where out, out_rs and ops allow it
//    dwconv_channels_3x3_wgrad: its weight and bias gradient (same pix, col0, width; in: rows + 2):
//                          res[(r*3 + s)*kc + k] = sum_{i < rows, q < count} dy[i*dy_rs + q*dps + k] *
//                          X(in[i + r], q + s + col0)[k], res[9*kc + k] = sum dy[i*dy_rs + q*dps + k]
//    dwconv_channels_wgrad: acc[t][k] += sum_{j < count} dy[j*dps + k] * in[t][j*ips + k]   (j in order)
// `taps` may be 0 (the output is then the bias, or zero). Loads stay inside the ranges above
// (tails are masked), so callers need no slack after their buffers.
// Every output is summed over taps (or pixels) in the order given, so results depend on the
// arguments only, never on threads; they may differ between ISAs (FMA, and dwconv_rows_wgrad's
// lane count).
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

#define FASTCONV_DWCONV_DECLARE(T)                                                                        \
  void dwconv_rows(int64_t taps, const T* const* in, int64_t in_rs, const T* w, T bias, T* out,           \
                   int64_t out_rs, int64_t rows, int64_t count);                                          \
  void dwconv_rows_3x3(const T* const* in, const int64_t* col_off, int64_t width, const T* w, T bias,     \
                       T* out, int64_t out_rs, int64_t rows, int64_t count);                              \
  void dwconv_rows_3x3_wgrad(const T* const* in, const int64_t* col_off, int64_t width, const T* dy,     \
                             int64_t dy_rs, int64_t rows, int64_t count, T* res);                         \
  void dwconv_rows_wgrad(int64_t taps, const T* const* in, int64_t in_rs, const T* dy, int64_t dy_rs,     \
                         int64_t rows, int64_t count, T* res);                                            \
  void dwconv_channels(int64_t taps, const T* const* in, int64_t ips, const T* const* w, const T* bias,   \
                       T* out, int64_t ops, int64_t count, int64_t kc);                                   \
  void dwconv_channels_3x3(const T* const* in, int64_t pix, int64_t col0, int64_t width, const T* w,     \
                           int64_t kc, const T* bias, T* out, int64_t out_rs, int64_t ops, int64_t rows,   \
                           int64_t count, bool stream);                                                   \
  void dwconv_channels_3x3_wgrad(const T* const* in, int64_t pix, int64_t col0, int64_t width, const T* dy, \
                                 int64_t dy_rs, int64_t dps, int64_t rows, int64_t count, int64_t kc,     \
                                 T* res);                                                                 \
  void dwconv_channels_wgrad(int64_t taps, const T* const* in, int64_t ips, const T* dy, int64_t dps,     \
                             int64_t count, int64_t kc, T* const* acc);

namespace scalar {
FASTCONV_DWCONV_DECLARE(float)
FASTCONV_DWCONV_DECLARE(double)
}  // namespace scalar
namespace avx2 {
FASTCONV_DWCONV_DECLARE(float)
FASTCONV_DWCONV_DECLARE(double)
}  // namespace avx2
namespace avx512 {
FASTCONV_DWCONV_DECLARE(float)
FASTCONV_DWCONV_DECLARE(double)
}  // namespace avx512

// The selected ISA's loops (isa.h), chosen once per process: dwconv_dispatch.cpp.
FASTCONV_DWCONV_DECLARE(float)
FASTCONV_DWCONV_DECLARE(double)

#undef FASTCONV_DWCONV_DECLARE

}  // namespace cpu
}  // namespace fastconv
