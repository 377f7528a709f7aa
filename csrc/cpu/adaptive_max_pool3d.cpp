// Adaptive max pooling over (D, H, W), forward and backward, any strides; 1-D and 2-D adaptive
// pooling run here on views with unit depth (and height).
//   x, dx: (N, C, D, H, W)    y, dy, indices: (N, C, Z, P, Q)
// torch's windows [floor(z*D/Z), ceil((z+1)*D/Z)) (never empty) and rules: taps in (d, h, w) order
// replace the maximum when `v > best || isnan(v)`; the index is the flat d * H * W + h * W + w.
// Backward routes dy to the argmax (from indices, or recomputed), one thread per (n, c) volume.
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::adaptive_window;
using pool3d::offset;

template <typename T>
inline void window_argmax(const Pool3dParams& p, const T* x, int64_t n, int64_t c, int64_t z, int64_t ph,
                          int64_t qw, T& best, int64_t& arg) {
  int64_t d0, d1, h0, h1, w0, w1;
  adaptive_window(z, p.D, p.Z, d0, d1);
  adaptive_window(ph, p.H, p.P, h0, h1);
  adaptive_window(qw, p.W, p.Q, w0, w1);
  best = -std::numeric_limits<T>::infinity();
  arg = (d0 * p.H + h0) * p.W + w0;
  for (int64_t d = d0; d < d1; ++d)
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const T v = x[offset(p.x_strides, n, c, d, h, w)];
        if (v > best || std::isnan(v)) {
          best = v;
          arg = (d * p.H + h) * p.W + w;
        }
      }
}

int64_t work_estimate(const Pool3dParams& p) { return p.D * p.H * p.W + p.Z * p.P * p.Q; }

}  // namespace

template <typename T>
void adaptive_max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices) {
  pool3d::for_each_volume(p, work_estimate(p), [&](int64_t n, int64_t c) {
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          T best;
          int64_t arg;
          window_argmax(p, x, n, c, z, ph, qw, best, arg);
          y[offset(p.y_strides, n, c, z, ph, qw)] = best;
          if (indices) indices[offset(p.i_strides, n, c, z, ph, qw)] = arg;
        }
  });
}

template <typename T>
void adaptive_max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx) {
  const int64_t volume = p.D * p.H * p.W;
  pool3d::for_each_volume(p, work_estimate(p), [&](int64_t n, int64_t c) {
    pool3d::zero_volume(p, p.dx_strides, dx, n, c);
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          int64_t arg;
          if (indices) {
            arg = indices[offset(p.i_strides, n, c, z, ph, qw)];
          } else {
            T best;
            window_argmax(p, x, n, c, z, ph, qw, best, arg);
          }
          if (arg < 0 || arg >= volume) continue;
          const int64_t d = arg / (p.H * p.W), h = (arg / p.W) % p.H, w = arg % p.W;
          dx[offset(p.dx_strides, n, c, d, h, w)] += dy[offset(p.y_strides, n, c, z, ph, qw)];
        }
  });
}

template void adaptive_max_pool3d_fprop<float>(const Pool3dParams&, const float*, float*, int64_t*);
template void adaptive_max_pool3d_fprop<double>(const Pool3dParams&, const double*, double*, int64_t*);
template void adaptive_max_pool3d_dgrad<float>(const Pool3dParams&, const float*, const float*, const int64_t*,
                                               float*);
template void adaptive_max_pool3d_dgrad<double>(const Pool3dParams&, const double*, const double*, const int64_t*,
                                                double*);

}  // namespace fastconv
