// 3-D convolution problem description and the CPU entry points.
//
// Logical axes with per-axis strides in elements (NCDHW, NDHWC or any view):
//   x, dx: (N, C, D, H, W)    w, dw: (K, C/groups, T, R, S)    y, dy: (N, K, Z, P, Q)    b, db: (K,)
// Output sizes come from the caller (conv2d_output_size per axis); trailing padding is implied by
// Z, P, Q, so only the leading pads are stored.
#pragma once

#include <cstdint>

#include "fastconv/conv.h"

namespace fastconv {

struct Conv3dParams {
  int64_t N = 0, C = 0, D = 0, H = 0, W = 0;  // input
  int64_t K = 0, T = 0, R = 0, S = 0;         // filters: K outputs, T x R x S taps
  int64_t Z = 0, P = 0, Q = 0;                // output
  int64_t groups = 1;
  int64_t stride[3] = {1, 1, 1};              // depth, height, width
  int64_t pad[3] = {0, 0, 0};                 // leading pads
  int64_t dilation[3] = {1, 1, 1};
  int64_t x_strides[5] = {0, 0, 0, 0, 0};     // n, c, d, h, w
  int64_t w_strides[5] = {0, 0, 0, 0, 0};     // k, c, t, r, s
  int64_t y_strides[5] = {0, 0, 0, 0, 0};     // n, k, z, p, q
  int64_t b_stride = 1;
  Conv2dAlgorithm algorithm = Conv2dAlgorithm::automatic;  // of the 2-D convolutions it runs
};

// Throws std::invalid_argument when the description is inconsistent.
void check_conv3d_params(const Conv3dParams& p);

// y = conv(x, w) + b. b may be null.
template <typename T>
void conv3d_fprop(const Conv3dParams& p, const T* x, const T* w, const T* b, T* y);
// dx = d(sum(y * dy)) / dx; x_strides describe dx.
template <typename T>
void conv3d_dgrad(const Conv3dParams& p, const T* dy, const T* w, T* dx);
// dw = d(sum(y * dy)) / dw; w_strides describe dw.
template <typename T>
void conv3d_wgrad(const Conv3dParams& p, const T* dy, const T* x, T* dw);
// db[k] = sum over n, z, p, q of dy (summed in double, fixed order).
template <typename T>
void conv3d_bgrad(const Conv3dParams& p, const T* dy, T* db);

}  // namespace fastconv
