// conv3d forward as 2-D convolutions per (image, depth tap), see conv3d_slices.h.
//   x: (N, C, D, H, W)   w: (K, C/groups, T, R, S)   b: (K,) or null   y: (N, K, Z, P, Q)
// y starts as the bias (or zero; output depths no tap reaches keep it), then each tap's 2-D result,
// computed into a scratch batch, is added in tap order.
#include <vector>

#include "cpu/conv3d_slices.h"

namespace fastconv {

template <typename T>
void conv3d_fprop(const Conv3dParams& p, const T* x, const T* w, const T* b, T* y) {
  check_conv3d_params(p);
  const int64_t* ys = p.y_strides;
  for (int64_t n = 0; n < p.N; ++n) {
    const int64_t extent[4] = {p.K, p.Z, p.P, p.Q};
    const int64_t strides[4] = {ys[1], ys[2], ys[3], ys[4]};
    conv3d::fill_box(b, p.b_stride, extent, y + n * ys[0], strides);
  }
  std::vector<T> scratch;
  for (int64_t t = 0; t < p.T; ++t) {
    const conv3d::TapRange r = conv3d::tap_range(p, t);
    if (r.count() == 0) continue;
    Conv2dParams q = conv3d::slice_params(p, r);
    const int64_t extent[4] = {r.count(), p.K, p.P, p.Q};
    scratch.resize(static_cast<size_t>(extent[0] * extent[1] * extent[2] * extent[3]));
    const int64_t dense[4] = {p.K * p.P * p.Q, p.P * p.Q, p.Q, 1};
    std::copy(dense, dense + 4, q.y_strides);
    const int64_t y4[4] = {ys[2], ys[1], ys[3], ys[4]};
    for (int64_t n = 0; n < p.N; ++n) {
      const T* xn = x + n * p.x_strides[0] + r.d_lo * p.x_strides[2];
      conv2d_fprop<T>(q, xn, w + t * p.w_strides[2], nullptr, scratch.data());
      conv3d::add_box(scratch.data(), extent, y + n * ys[0] + r.lo * ys[2], y4, true);
    }
  }
}

template void conv3d_fprop<float>(const Conv3dParams&, const float*, const float*, const float*, float*);
template void conv3d_fprop<double>(const Conv3dParams&, const double*, const double*, const double*, double*);

}  // namespace fastconv
