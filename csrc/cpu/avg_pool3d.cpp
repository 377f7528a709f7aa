// 3-D average pooling, forward and backward, any strides.
//   x, dx: (N, C, D, H, W)    y, dy: (N, C, Z, P, Q)
//
// torch's CPU semantics: a window spans [o * stride - pad, min(o * stride - pad + k, L + pad)) per
// axis; its size over the padded input is the divisor with count_include_pad, else the number of
// taps inside the input; divisor_override replaces both. Sums run in double in (d, h, w) order.
// The backward pass adds dy / divisor to every tap inside the input. Work items are (image,
// channel block), see pool3d_planes.h.
#include <algorithm>
#include <cstdint>

#include "cpu/pool3d_planes.h"

namespace fastconv {

namespace {

using pool3d::kMaxBlock;
using pool3d::offset;

struct Window {
  int64_t lo[3], hi[3];
  double divisor;
  bool empty;
};

inline Window window(const Pool3dParams& p, const int64_t o[3]) {
  const int64_t in[3] = {p.D, p.H, p.W};
  Window win;
  int64_t padded = 1, inside = 1;
  for (int a = 0; a < 3; ++a) {
    int64_t lo = o[a] * p.stride[a] - p.pad[a];
    int64_t hi = std::min(lo + p.kernel[a], in[a] + p.pad[a]);
    padded *= hi - lo;
    lo = std::max<int64_t>(lo, 0);
    hi = std::min(hi, in[a]);
    win.lo[a] = lo, win.hi[a] = hi;
    inside *= std::max<int64_t>(hi - lo, 0);
  }
  win.empty = inside == 0;
  win.divisor = p.divisor_override ? double(p.divisor_override) : double(p.count_include_pad ? padded : inside);
  return win;
}

}  // namespace

template <typename T>
void avg_pool3d_fprop(const Pool3dParams& p, const T* x, T* y) {
  const int64_t work = p.Z * p.P * p.Q * p.kernel[0] * p.kernel[1] * p.kernel[2];
  const int64_t* xs = p.x_strides;
  pool3d::for_each_block(p, work, [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    double sum[kMaxBlock];
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          const int64_t o[3] = {z, ph, qw};
          const Window win = window(p, o);
          for (int64_t c = 0; c < cb; ++c) sum[c] = 0;
          for (int64_t d = win.lo[0]; d < win.hi[0]; ++d)
            for (int64_t h = win.lo[1]; h < win.hi[1]; ++h)
              for (int64_t w = win.lo[2]; w < win.hi[2]; ++w) {
                const T* xp = x + offset(xs, n, c0, d, h, w);
                for (int64_t c = 0; c < cb; ++c) sum[c] += double(xp[c * xc]);
              }
          T* yp = y + offset(p.y_strides, n, c0, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) yp[c * p.y_strides[1]] = win.empty ? T(0) : T(sum[c] / win.divisor);
        }
  });
}

template <typename T>
void avg_pool3d_dgrad(const Pool3dParams& p, const T* dy, T* dx) {
  const int64_t work = p.D * p.H * p.W + p.Z * p.P * p.Q * p.kernel[0] * p.kernel[1] * p.kernel[2];
  const int64_t* xs = p.x_strides;
  pool3d::for_each_block(p, work, [&](int64_t n, int64_t c0, int64_t cb_in, auto kind) {
    const int64_t cb = pool3d::block_channels(kind, cb_in);
    const int64_t xc = pool3d::channel_stride(kind, p.x_strides[1]);
    T g[kMaxBlock];
    pool3d::zero_block(p, xs, dx, n, c0, cb);
    for (int64_t z = 0; z < p.Z; ++z)
      for (int64_t ph = 0; ph < p.P; ++ph)
        for (int64_t qw = 0; qw < p.Q; ++qw) {
          const int64_t o[3] = {z, ph, qw};
          const Window win = window(p, o);
          if (win.empty) continue;
          const T* dyp = dy + offset(p.y_strides, n, c0, z, ph, qw);
          for (int64_t c = 0; c < cb; ++c) g[c] = T(double(dyp[c * p.y_strides[1]]) / win.divisor);
          for (int64_t d = win.lo[0]; d < win.hi[0]; ++d)
            for (int64_t h = win.lo[1]; h < win.hi[1]; ++h)
              for (int64_t w = win.lo[2]; w < win.hi[2]; ++w) {
                T* dxp = dx + offset(xs, n, c0, d, h, w);
                for (int64_t c = 0; c < cb; ++c) dxp[c * xc] += g[c];
              }
        }
  });
}

template void avg_pool3d_fprop<float>(const Pool3dParams&, const float*, float*);
template void avg_pool3d_fprop<double>(const Pool3dParams&, const double*, double*);
template void avg_pool3d_dgrad<float>(const Pool3dParams&, const float*, float*);
template void avg_pool3d_dgrad<double>(const Pool3dParams&, const double*, double*);

}  // namespace fastconv
