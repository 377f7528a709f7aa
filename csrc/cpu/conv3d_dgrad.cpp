// conv3d input gradient as 2-D dgrads per (image, depth tap), see conv3d_slices.h.
//   dy: (N, K, Z, P, Q)   w: (K, C/groups, T, R, S)   dx: (N, C, D, H, W) (x_strides)
// dx starts at zero; for tap t the output depths z in range map to distinct input depths, so each
// tap's 2-D result (a scratch batch) is added to its depth slices, taps in order (deterministic).
#include <vector>

#include "cpu/conv3d_slices.h"

namespace fastconv {

template <typename T>
void conv3d_dgrad(const Conv3dParams& p, const T* dy, const T* w, T* dx) {
  check_conv3d_params(p);
  const int64_t* xs = p.x_strides;
  for (int64_t n = 0; n < p.N; ++n) {
    const int64_t extent[4] = {p.C, p.D, p.H, p.W};
    const int64_t strides[4] = {xs[1], xs[2], xs[3], xs[4]};
    conv3d::fill_box<T>(nullptr, 0, extent, dx + n * xs[0], strides);
  }
  std::vector<T> scratch;
  for (int64_t t = 0; t < p.T; ++t) {
    const conv3d::TapRange r = conv3d::tap_range(p, t);
    if (r.count() == 0) continue;
    Conv2dParams q = conv3d::slice_params(p, r);
    const int64_t extent[4] = {r.count(), p.C, p.H, p.W};
    scratch.resize(static_cast<size_t>(extent[0] * extent[1] * extent[2] * extent[3]));
    const int64_t dense[4] = {p.C * p.H * p.W, p.H * p.W, p.W, 1};
    std::copy(dense, dense + 4, q.x_strides);
    const int64_t x4[4] = {xs[2] * p.stride[0], xs[1], xs[3], xs[4]};
    for (int64_t n = 0; n < p.N; ++n) {
      const T* dyn = dy + n * p.y_strides[0] + r.lo * p.y_strides[2];
      conv2d_dgrad<T>(q, dyn, w + t * p.w_strides[2], scratch.data());
      conv3d::add_box(scratch.data(), extent, dx + n * xs[0] + r.d_lo * xs[2], x4, true);
    }
  }
}

template void conv3d_dgrad<float>(const Conv3dParams&, const float*, const float*, float*);
template void conv3d_dgrad<double>(const Conv3dParams&, const double*, const double*, double*);

}  // namespace fastconv
