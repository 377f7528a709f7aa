// Adaptive average pooling over (D, H, W), forward and backward, any strides; 1-D and 2-D adaptive
// pooling run here on views with unit depth (and height).
//   x, dx: (N, C, D, H, W)    y, dy: (N, C, Z, P, Q)
// Output (z, ph, qw) averages the window [floor(z*D/Z), ceil((z+1)*D/Z)) x ... (torch's windows);
// sums run in double in (d, h, w) order. Backward adds dy / window size to the window. Work items
// are (image, channel block), see pool3d_planes.h.
#include <cstdint>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::adaptive_window;
using pool3d::kMaxBlock;
using pool3d::offset;

// Per-channel work estimate: every input is read about once per output window that covers it.
int64_t work_estimate(const Pool3dParams& p) { return p.D * p.H * p.W + p.Z * p.P * p.Q; }

struct Window {
  int64_t d0, d1, h0, h1, w0, w1;
  double size() const { return double((d1 - d0) * (h1 - h0) * (w1 - w0)); }
};

inline Window window(const Pool3dParams& p, int64_t z, int64_t ph, int64_t qw) {
  Window win;
  adaptive_window(z, p.D, p.Z, win.d0, win.d1);
  adaptive_window(ph, p.H, p.P, win.h0, win.h1);
  adaptive_window(qw, p.W, p.Q, win.w0, win.w1);
  return win;
}

}  // namespace

template <typename T>
void adaptive_avg_pool3d_fprop(const Pool3dParams& p, const T* x, T* y) {
  const int64_t* xs = p.x_strides;
  pool3d::for_each_block(p, work_estimate(p), [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    double sum[kMaxBlock];
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          const Window win = window(p, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) sum[c] = 0;
          for (int64_t d = win.d0; d < win.d1; ++d)
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) {
                const T* xp = x + offset(xs, n, c0, d, h, w);
                for (int64_t c = 0; c < cb; ++c) sum[c] += double(xp[c * xc]);
              }
          T* yp = y + offset(p.y_strides, n, c0, z, ph, qw);
          const double size = win.size();
          for (int64_t c = 0; c < cb; ++c) yp[c * p.y_strides[1]] = T(sum[c] / size);
        }
  });
}

template <typename T>
void adaptive_avg_pool3d_dgrad(const Pool3dParams& p, const T* dy, T* dx) {
  const int64_t* xs = p.x_strides;
  pool3d::for_each_block(p, work_estimate(p), [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    T g[kMaxBlock];
    pool3d::zero_block(p, xs, dx, n, c0, cb);
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          const Window win = window(p, z, ph, qw);
          const double size = win.size();
          const T* dyp = dy + offset(p.y_strides, n, c0, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) g[c] = T(double(dyp[c * p.y_strides[1]]) / size);
          for (int64_t d = win.d0; d < win.d1; ++d)
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) {
                T* dxp = dx + offset(xs, n, c0, d, h, w);
                for (int64_t c = 0; c < cb; ++c) dxp[c * xc] += g[c];
              }
        }
  });
}

template void adaptive_avg_pool3d_fprop<float>(const Pool3dParams&, const float*, float*);
template void adaptive_avg_pool3d_fprop<double>(const Pool3dParams&, const double*, double*);
template void adaptive_avg_pool3d_dgrad<float>(const Pool3dParams&, const float*, float*);
template void adaptive_avg_pool3d_dgrad<double>(const Pool3dParams&, const double*, double*);

}  // namespace fastconv
