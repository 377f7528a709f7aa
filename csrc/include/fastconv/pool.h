// Pooling problem description and the CPU entry points.
//
// Logical axes with per-axis strides in elements (any layout or view):
//   x, dx: (N, C, H, W)     y, dy, indices: (N, C, P, Q)
// indices hold the flat position h * W + w of each window's maximum in its (unpadded) input plane,
// as torch.nn.functional.max_pool2d(return_indices=True) does.
#pragma once

#include <cstdint>

#include "fastconv/host_device.h"

namespace fastconv {

struct Pool2dParams {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t P = 0, Q = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;   // max pool only
  bool count_include_pad = true;            // avg pool only
  int64_t divisor_override = 0;             // avg pool only; 0 = none
  int64_t x_strides[4] = {0, 0, 0, 0};      // n, c, h, w (x; dx in avg_pool2d_dgrad)
  int64_t dx_strides[4] = {0, 0, 0, 0};     // n, c, h, w (dx in max_pool2d_dgrad, which reads x too)
  int64_t y_strides[4] = {0, 0, 0, 0};      // n, c, p, q (y or dy)
  int64_t i_strides[4] = {0, 0, 0, 0};      // n, c, p, q (indices)
};

// Output extent of one axis, PyTorch's rule: with ceil_mode the last window must start inside the
// input or the leading padding.
FASTCONV_HOST_DEVICE int64_t pool2d_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation,
                                                bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;
  int64_t out = span / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Throws std::invalid_argument when the description is inconsistent.
void check_pool2d_params(const Pool2dParams& p);

// indices may be null.
template <typename T>
void max_pool2d_fprop(const Pool2dParams& p, const T* x, T* y, int64_t* indices);
// dx = gradient routed to each window's maximum (dx_strides; x read with x_strides). With indices
// null the argmax is recomputed from x; indices outside [0, H * W) are ignored.
template <typename T>
void max_pool2d_dgrad(const Pool2dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx);
template <typename T>
void avg_pool2d_fprop(const Pool2dParams& p, const T* x, T* y);
// dx uses x_strides.
template <typename T>
void avg_pool2d_dgrad(const Pool2dParams& p, const T* dy, T* dx);

}  // namespace fastconv
