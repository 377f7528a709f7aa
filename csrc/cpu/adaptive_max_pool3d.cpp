// Adaptive max pooling over (D, H, W), forward and backward, any strides; 1-D and 2-D adaptive
// pooling run here on views with unit depth (and height).
//   x, dx: (N, C, D, H, W)    y, dy, indices: (N, C, Z, P, Q)
// torch's windows [floor(z*D/Z), ceil((z+1)*D/Z)) (never empty) and rules: taps in (d, h, w) order
// replace the maximum when `v > best || isnan(v)`; the index is the flat d * H * W + h * W + w.
// Backward routes dy to the argmax (from indices, or recomputed). Work items are (image, channel
// block), see pool3d_planes.h.
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::adaptive_window;
using pool3d::kMaxBlock;
using pool3d::offset;

template <typename T>
inline void window_argmax(const Pool3dParams& p, const T* __restrict__ x, int64_t n, int64_t c0, int64_t cb,
                          int64_t xc, int64_t z, int64_t ph, int64_t qw, T* __restrict__ best,
                          int64_t* __restrict__ arg) {
  int64_t d0, d1, h0, h1, w0, w1;
  adaptive_window(z, p.D, p.Z, d0, d1);
  adaptive_window(ph, p.H, p.P, h0, h1);
  adaptive_window(qw, p.W, p.Q, w0, w1);
  const int64_t first = (d0 * p.H + h0) * p.W + w0;
  for (int64_t c = 0; c < cb; ++c) {
    best[c] = -std::numeric_limits<T>::infinity();
    arg[c] = first;
  }
  const int64_t* xs = p.x_strides;
  for (int64_t d = d0; d < d1; ++d)
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const T* xp = x + offset(xs, n, c0, d, h, w);
        const int64_t idx = (d * p.H + h) * p.W + w;
        for (int64_t c = 0; c < cb; ++c) {
          const T v = xp[c * xc];
          if (v > best[c] || std::isnan(v)) {
            best[c] = v;
            arg[c] = idx;
          }
        }
      }
}

int64_t work_estimate(const Pool3dParams& p) { return p.D * p.H * p.W + p.Z * p.P * p.Q; }

}  // namespace

template <typename T>
void adaptive_max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices) {
  pool3d::for_each_block(p, work_estimate(p), [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    T best[kMaxBlock];
    int64_t arg[kMaxBlock];
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          window_argmax(p, x, n, c0, cb, xc, z, ph, qw, best, arg);
          T* yp = y + offset(p.y_strides, n, c0, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) yp[c * p.y_strides[1]] = best[c];
          if (indices) {
            int64_t* ip = indices + offset(p.i_strides, n, c0, z, ph, qw);
            for (int64_t c = 0; c < cb; ++c) ip[c * p.i_strides[1]] = arg[c];
          }
        }
  });
}

template <typename T>
void adaptive_max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx) {
  const int64_t volume = p.D * p.H * p.W;
  pool3d::for_each_block(p, work_estimate(p), [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    T best[kMaxBlock];
    int64_t arg[kMaxBlock];
    pool3d::zero_block(p, p.dx_strides, dx, n, c0, cb);
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          if (indices) {
            const int64_t* ip = indices + offset(p.i_strides, n, c0, z, ph, qw);
            for (int64_t c = 0; c < cb; ++c) arg[c] = ip[c * p.i_strides[1]];
          } else {
            window_argmax(p, x, n, c0, cb, xc, z, ph, qw, best, arg);
          }
          const T* dyp = dy + offset(p.y_strides, n, c0, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) {
            const int64_t a = arg[c];
            if (a < 0 || a >= volume) continue;
            const int64_t d = a / (p.H * p.W), h = (a / p.W) % p.H, w = a % p.W;
            dx[offset(p.dx_strides, n, c0 + c, d, h, w)] += dyp[c * p.y_strides[1]];
          }
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
