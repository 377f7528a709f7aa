// Convolution problem description and the CPU entry points.
//
// Every tensor is described by its logical axes and per-axis strides in elements, so one kernel
// serves NCHW, NHWC (channels-last), Fortran-ordered arrays and strided views alike:
//   x, dx: (N, C, H, W)     w, dw: (K, C/groups, R, S)     y, dy: (N, K, P, Q)     b, db: (K,)
// Output sizes are computed by the caller (Python mirrors conv2d_output_size below); trailing
// padding is implied by P and Q, so asymmetric 'same' padding needs only the leading pad here.
#pragma once

#include <cstdint>

#include "fastconv/host_device.h"

namespace fastconv {

// automatic: the best algorithm for the shape. The others force one; a forced algorithm that does
// not apply to the shape is an error (conv2d_algorithm_supported tells beforehand).
enum class Conv2dAlgorithm : int { automatic = 0, implicit_gemm = 1, direct = 2, winograd = 3 };

struct Conv2dParams {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t K = 0, R = 0, S = 0;         // filters: K outputs, R x S taps
  int64_t P = 0, Q = 0;                // output
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;        // leading (top, left) padding
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t x_strides[4] = {0, 0, 0, 0};  // n, c, h, w
  int64_t w_strides[4] = {0, 0, 0, 0};  // k, c, r, s
  int64_t y_strides[4] = {0, 0, 0, 0};  // n, k, p, q
  int64_t b_stride = 1;
  Conv2dAlgorithm algorithm = Conv2dAlgorithm::automatic;

  int64_t C_per_group() const { return C / groups; }
  int64_t K_per_group() const { return K / groups; }
};

// Output extent of one spatial axis: floor((in + pad_lo + pad_hi - dilation*(k-1) - 1) / stride) + 1.
FASTCONV_HOST_DEVICE int64_t conv2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo,
                                                int64_t pad_hi, int64_t dilation) {
  const int64_t span = in + pad_lo + pad_hi - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// Throws std::invalid_argument when the description is inconsistent (sizes, groups, strides).
void check_conv2d_params(const Conv2dParams& p);
bool conv2d_algorithm_supported(const Conv2dParams& p, Conv2dAlgorithm algorithm);

// y = conv(x, w) + b. b may be null.
template <typename T>
void conv2d_fprop(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
// dx = d(sum(y * dy)) / dx; x_strides describe dx.
template <typename T>
void conv2d_dgrad(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// dw = d(sum(y * dy)) / dw; w_strides describe dw.
template <typename T>
void conv2d_wgrad(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// db[k] = sum over n, p, q of dy; b_stride describes db.
template <typename T>
void conv2d_bgrad(const Conv2dParams& p, const T* dy, T* db);
// dx, dw and db together where one pass over dy serves them all (a depthwise 3x3 with unit strides
// on unit-stride rows; few input channels with unit strides, where db alone comes here too);
// returns false without touching anything where it does not apply, and the three calls above do
// the work. dx, dw, db may each be null (not wanted); x_strides describe x,
// dx_strides dx, w_strides w, dw_strides dw, b_stride db.
template <typename T>
bool conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, const int64_t* dx_strides,
                     T* dw, const int64_t* dw_strides, T* db);

}  // namespace fastconv
