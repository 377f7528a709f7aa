// Adaptive average pooling over (D, H, W), forward and backward, any strides; 1-D and 2-D adaptive
// pooling run here on views with unit depth (and height).
//   x, dx: (N, C, D, H, W)    y, dy: (N, C, Z, P, Q)
// Output (z, ph, qw) averages the window [floor(z*D/Z), ceil((z+1)*D/Z)) x ... (torch's windows);
// sums run in double in (d, h, w) order. Backward adds dy / window size to the window, one thread
// per (n, c) volume.
#include <cstdint>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::adaptive_window;
using pool3d::offset;

// Per-volume work estimate: every input is read about once per output window that covers it.
int64_t work_estimate(const Pool3dParams& p) {
  return p.D * p.H * p.W + p.Z * p.P * p.Q;
}

}  // namespace

template <typename T>
void adaptive_avg_pool3d_fprop(const Pool3dParams& p, const T* x, T* y) {
  pool3d::for_each_volume(p, work_estimate(p), [&](int64_t n, int64_t c) {
    for (int64_t z = 0; z < p.Z; ++z) {
      int64_t d0, d1;
      adaptive_window(z, p.D, p.Z, d0, d1);
      for (int64_t ph = 0; ph < p.P; ++ph) {
        int64_t h0, h1;
        adaptive_window(ph, p.H, p.P, h0, h1);
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          int64_t w0, w1;
          adaptive_window(qw, p.W, p.Q, w0, w1);
          double sum = 0;
          for (int64_t d = d0; d < d1; ++d)
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) sum += double(x[offset(p.x_strides, n, c, d, h, w)]);
          y[offset(p.y_strides, n, c, z, ph, qw)] = T(sum / double((d1 - d0) * (h1 - h0) * (w1 - w0)));
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool3d_dgrad(const Pool3dParams& p, const T* dy, T* dx) {
  pool3d::for_each_volume(p, work_estimate(p), [&](int64_t n, int64_t c) {
    pool3d::zero_volume(p, p.x_strides, dx, n, c);
    for (int64_t z = 0; z < p.Z; ++z) {
      int64_t d0, d1;
      adaptive_window(z, p.D, p.Z, d0, d1);
      for (int64_t ph = 0; ph < p.P; ++ph) {
        int64_t h0, h1;
        adaptive_window(ph, p.H, p.P, h0, h1);
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          int64_t w0, w1;
          adaptive_window(qw, p.W, p.Q, w0, w1);
          const T g = T(double(dy[offset(p.y_strides, n, c, z, ph, qw)]) / double((d1 - d0) * (h1 - h0) * (w1 - w0)));
          for (int64_t d = d0; d < d1; ++d)
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) dx[offset(p.x_strides, n, c, d, h, w)] += g;
        }
      }
    }
  });
}

template void adaptive_avg_pool3d_fprop<float>(const Pool3dParams&, const float*, float*);
template void adaptive_avg_pool3d_fprop<double>(const Pool3dParams&, const double*, double*);
template void adaptive_avg_pool3d_dgrad<float>(const Pool3dParams&, const float*, float*);
template void adaptive_avg_pool3d_dgrad<double>(const Pool3dParams&, const double*, double*);

}  // namespace fastconv
