// 3-D max pooling, forward and backward, any strides.
//   x, dx: (N, C, D, H, W)    y, dy, indices: (N, C, Z, P, Q)
//
// torch's CPU semantics: padding is -inf and never chosen; taps inside the input are scanned in
// (d, h, w) order and replace the running maximum when `v > best || isnan(v)` (ties keep the first,
// the last NaN wins). The index starts at torch's "first tap moved inside" coordinate, which is what
// a window with no tap inside (possible with dilation) reports, with -inf; dgrad drops indices
// outside the volume. Work items are (image, channel block), see pool3d_planes.h.
#include <cstdint>
#include <limits>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::kMaxBlock;
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

// Maxima and (with kIndex) flat indices of channels [c0, c0 + cb) of image n in the window of output
// (z, ph, qw). Without indices the loop is a plain select that vectorises over channel blocks.
template <bool kIndex, typename T>
inline void window_argmax(const Pool3dParams& p, const T* __restrict__ x, int64_t n, int64_t c0, int64_t cb,
                          int64_t xc, int64_t z, int64_t ph, int64_t qw, T* __restrict__ best,
                          int64_t* __restrict__ arg) {
  const AxisWindow ad = axis_window(z, p.kernel[0], p.stride[0], p.pad[0], p.dilation[0], p.D);
  const AxisWindow ah = axis_window(ph, p.kernel[1], p.stride[1], p.pad[1], p.dilation[1], p.H);
  const AxisWindow aw = axis_window(qw, p.kernel[2], p.stride[2], p.pad[2], p.dilation[2], p.W);
  const int64_t first = (ad.first * p.H + ah.first) * p.W + aw.first;
  for (int64_t c = 0; c < cb; ++c) {
    best[c] = -std::numeric_limits<T>::infinity();
    arg[c] = first;
  }
  const int64_t* xs = p.x_strides;
  const T* xn = x + n * xs[0] + c0 * xs[1];
  for (int64_t d = ad.first; d < ad.end; d += p.dilation[0])
    for (int64_t h = ah.first; h < ah.end; h += p.dilation[1]) {
      const T* row = xn + d * xs[2] + h * xs[3];
      const int64_t row_idx = (d * p.H + h) * p.W;
      for (int64_t w = aw.first; w < aw.end; w += p.dilation[2]) {
        const T* xp = row + w * xs[4];
        const int64_t idx = row_idx + w;
        for (int64_t c = 0; c < cb; ++c) {
          const T v = xp[c * xc];
          // Branch-free so that channel blocks vectorise: (v > best) or v is NaN.
          const bool take = (v > best[c]) | (v != v);
          best[c] = take ? v : best[c];
          if (kIndex) arg[c] = take ? idx : arg[c];
        }
      }
    }
}

}  // namespace

template <typename T>
void max_pool3d_fprop(const Pool3dParams& p, const T* x, T* y, int64_t* indices) {
  const int64_t work = p.Z * p.P * p.Q * p.kernel[0] * p.kernel[1] * p.kernel[2];
  pool3d::for_each_block(p, work, [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    T best[kMaxBlock];
    int64_t arg[kMaxBlock];
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          if (indices) window_argmax<true>(p, x, n, c0, cb, xc, z, ph, qw, best, arg);
          else window_argmax<false>(p, x, n, c0, cb, xc, z, ph, qw, best, arg);
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
void max_pool3d_dgrad(const Pool3dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx) {
  const int64_t volume = p.D * p.H * p.W;
  const int64_t work = volume + p.Z * p.P * p.Q * (indices ? 1 : p.kernel[0] * p.kernel[1] * p.kernel[2]);
  pool3d::for_each_block(p, work, [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
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
            window_argmax<true>(p, x, n, c0, cb, xc, z, ph, qw, best, arg);
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

template void max_pool3d_fprop<float>(const Pool3dParams&, const float*, float*, int64_t*);
template void max_pool3d_fprop<double>(const Pool3dParams&, const double*, double*, int64_t*);
template void max_pool3d_dgrad<float>(const Pool3dParams&, const float*, const float*, const int64_t*, float*);
template void max_pool3d_dgrad<double>(const Pool3dParams&, const double*, const double*, const int64_t*, double*);

}  // namespace fastconv
