// conv3d weight and bias gradients.
//   dy: (N, K, Z, P, Q)   x: (N, C, D, H, W)   dw: (K, C/groups, T, R, S) (w_strides)   db: (K,)
// Weight: per depth tap t, one 2-D wgrad per image over the output depths in range (conv3d_slices.h),
// summed over images in order into dw[:, :, t]; a tap no output depth reaches gets zero.
// Bias: per channel, a double sum in (n, z, p, q) order.
#include <vector>

#include "cpu/conv3d_slices.h"

namespace fastconv {

template <typename T>
void conv3d_wgrad(const Conv3dParams& p, const T* dy, const T* x, T* dw) {
  check_conv3d_params(p);
  const int64_t* ws = p.w_strides;
  const int64_t Cg = p.C / p.groups;
  const int64_t extent[4] = {p.K, Cg, p.R, p.S};
  const int64_t w4[4] = {ws[0], ws[1], ws[3], ws[4]};
  std::vector<T> scratch(static_cast<size_t>(p.K * Cg * p.R * p.S));
  for (int64_t t = 0; t < p.T; ++t) {
    const conv3d::TapRange r = conv3d::tap_range(p, t);
    T* dwt = dw + t * ws[2];
    if (r.count() == 0 || p.N == 0) {
      conv3d::fill_box<T>(nullptr, 0, extent, dwt, w4);
      continue;
    }
    Conv2dParams q = conv3d::slice_params(p, r);
    const int64_t dense[4] = {Cg * p.R * p.S, p.R * p.S, p.S, 1};
    std::copy(dense, dense + 4, q.w_strides);
    for (int64_t n = 0; n < p.N; ++n) {
      const T* dyn = dy + n * p.y_strides[0] + r.lo * p.y_strides[2];
      const T* xn = x + n * p.x_strides[0] + r.d_lo * p.x_strides[2];
      conv2d_wgrad<T>(q, dyn, xn, scratch.data());
      conv3d::add_box(scratch.data(), extent, dwt, w4, n > 0);
    }
  }
}

template <typename T>
void conv3d_bgrad(const Conv3dParams& p, const T* dy, T* db) {
  const int64_t* ys = p.y_strides;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      double sum = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t z = 0; z < p.Z; ++z)
          for (int64_t h = 0; h < p.P; ++h) {
            const T* row = dy + n * ys[0] + k * ys[1] + z * ys[2] + h * ys[3];
            for (int64_t w = 0; w < p.Q; ++w) sum += double(row[w * ys[4]]);
          }
      db[k * p.b_stride] = T(sum);
    }
  });
}

template void conv3d_wgrad<float>(const Conv3dParams&, const float*, const float*, float*);
template void conv3d_wgrad<double>(const Conv3dParams&, const double*, const double*, double*);
template void conv3d_bgrad<float>(const Conv3dParams&, const float*, float*);
template void conv3d_bgrad<double>(const Conv3dParams&, const double*, double*);

}  // namespace fastconv
