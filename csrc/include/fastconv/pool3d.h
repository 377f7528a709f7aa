// 3-D pooling (windowed and adaptive) problem description and the CPU entry points. The adaptive
// kernels serve 1-D and 2-D adaptive pooling too, through views with unit depth (and height).
//
// Logical axes with per-axis strides in elements (any layout or view):
//   x, dx: (N, C, D, H, W)     y, dy, indices: (N, C, Z, P, Q)
// indices hold the flat position d * H * W + h * W + w of each window's maximum in its input
// volume, as torch.nn.functional.max_pool3d / adaptive_max_pool3d(return_indices=True) do.
#pragma once

#include <cstdint>

namespace fastconv {

struct Pool3dParams {
  int64_t N = 0, C = 0, D = 0, H = 0, W = 0;
  int64_t Z = 0, P = 0, Q = 0;
  int64_t kernel[3] = {1, 1, 1};    // windowed pools only
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};
  int64_t dilation[3] = {1, 1, 1};  // max pool only
  bool count_include_pad = true;    // avg pool only
  int64_t divisor_override = 0;     // avg pool only; 0 = none
  int64_t x_strides[5] = {0, 0, 0, 0, 0};   // x (dx in the avg dgrads, which do not read x)
  int64_t dx_strides[5] = {0, 0, 0, 0, 0};  // dx in the max dgrads
  int64_t y_strides[5] = {0, 0, 0, 0, 0};   // y or dy
  int64_t i_strides[5] = {0, 0, 0, 0, 0};   // indices
};

// Throws std::invalid_argument when a windowed pool's description is inconsistent (output extents
// not those of floor or ceil mode, padding over half the window, flat indices overflowing int64).
void check_pool3d_params(const Pool3dParams& p);
// Adaptive pools: nonzero input extents, output extents >= 0, flat indices fit int64.
void check_adaptive_pool3d_params(const Pool3dParams& p);

// Windowed max pool; indices may be null. dgrad routes each gradient to its window's maximum
// (recomputed from x when indices is null; indices outside the volume are ignored).
template <typename T>
void max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices);
template <typename T>
void max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx);
// Windowed average pool; dgrad writes dx with x_strides.
template <typename T>
void avg_pool3d_fprop(const Pool3dParams& p, const T* x, T* y);
template <typename T>
void avg_pool3d_dgrad(const Pool3dParams& p, const T* dy, T* dx);

// Adaptive pools: output z covers [floor(z * D / Z), ceil((z + 1) * D / Z)) (likewise h, w).
template <typename T>
void adaptive_avg_pool3d_fprop(const Pool3dParams& p, const T* x, T* y);
template <typename T>
void adaptive_avg_pool3d_dgrad(const Pool3dParams& p, const T* dy, T* dx);
template <typename T>
void adaptive_max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices);
template <typename T>
void adaptive_max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx);

}  // namespace fastconv
