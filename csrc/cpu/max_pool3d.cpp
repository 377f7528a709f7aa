// 3-D max pooling, forward and backward, any strides.
//   x, dx: (N, C, D, H, W)    y, dy, indices: (N, C, Z, P, Q)
//
// torch's CPU semantics: padding is -inf and never chosen; taps inside the input are scanned in
// (d, h, w) order and replace the running maximum when `v > best || isnan(v)` (ties keep the first,
// the last NaN wins). The index starts at torch's "first tap moved inside" coordinate, which is what
// a window with no tap inside (possible with dilation) reports, with -inf; dgrad drops indices
// outside the volume. One thread owns each (n, c) volume (pool3d_planes.h).
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::offset;

// Taps of one axis: coordinates first, first + d, ... < end.
struct AxisWindow {
  int64_t first, end;
};

inline AxisWindow axis_window(int64_t o, int64_t k, int64_t s, int64_t pad, int64_t d, int64_t L) {
  const int64_t start = o * s - pad;
  AxisWindow a;
  a.end = std::min(start + (k - 1) * d + 1, L);
  a.first = start >= 0 ? start : start + ((-start + d - 1) / d) * d;
  return a;
}

template <typename T>
inline void window_argmax(const Pool3dParams& p, const T* x, int64_t n, int64_t c, int64_t z, int64_t ph,
                          int64_t qw, T& best, int64_t& arg) {
  const AxisWindow ad = axis_window(z, p.kernel[0], p.stride[0], p.pad[0], p.dilation[0], p.D);
  const AxisWindow ah = axis_window(ph, p.kernel[1], p.stride[1], p.pad[1], p.dilation[1], p.H);
  const AxisWindow aw = axis_window(qw, p.kernel[2], p.stride[2], p.pad[2], p.dilation[2], p.W);
  best = -std::numeric_limits<T>::infinity();
  arg = (ad.first * p.H + ah.first) * p.W + aw.first;
  const int64_t* xs = p.x_strides;
  for (int64_t d = ad.first; d < ad.end; d += p.dilation[0])
    for (int64_t h = ah.first; h < ah.end; h += p.dilation[1])
      for (int64_t w = aw.first; w < aw.end; w += p.dilation[2]) {
        const T v = x[offset(xs, n, c, d, h, w)];
        if (v > best || std::isnan(v)) {
          best = v;
          arg = (d * p.H + h) * p.W + w;
        }
      }
}

}  // namespace

template <typename T>
void max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices) {
  const int64_t work = p.Z * p.P * p.Q * p.kernel[0] * p.kernel[1] * p.kernel[2];
  pool3d::for_each_volume(p, work, [&](int64_t n, int64_t c) {
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
void max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx) {
  const int64_t volume = p.D * p.H * p.W;
  const int64_t work = volume + p.Z * p.P * p.Q * (indices ? 1 : p.kernel[0] * p.kernel[1] * p.kernel[2]);
  pool3d::for_each_volume(p, work, [&](int64_t n, int64_t c) {
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

template void max_pool3d_fprop<float>(const Pool3dParams&, const float*, float*, int64_t*);
template void max_pool3d_fprop<double>(const Pool3dParams&, const double*, double*, int64_t*);
template void max_pool3d_dgrad<float>(const Pool3dParams&, const float*, const float*, const int64_t*, float*);
template void max_pool3d_dgrad<double>(const Pool3dParams&, const double*, const double*, const int64_t*, double*);

}  // namespace fastconv
