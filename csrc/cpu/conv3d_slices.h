// The 3-D convolution as 2-D convolutions, one per depth tap t. For a fixed t, output depth z reads
// input depth d = z * stride_d - pad_d + t * dilation_d; the z whose d lands inside [0, D) form a
// contiguous range, and along it d advances by stride_d. So for each image n and tap t, the pairs
// (z, d) are one 2-D convolution whose "batch" axis is z (strides: y's z stride, x's d stride times
// stride_d). Results of different taps are added in tap order (deterministic).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/parallel.h"
#include "fastconv/conv3d.h"

namespace fastconv {
namespace conv3d {

// Output depths [lo, hi) whose input depth for tap t lies inside the volume.
struct TapRange {
  int64_t lo = 0, hi = 0;
  int64_t d_lo = 0;  // input depth of output depth lo
  int64_t count() const { return hi - lo; }
};

inline TapRange tap_range(const Conv3dParams& p, int64_t t) {
  const int64_t s = p.stride[0];
  const int64_t off = t * p.dilation[0] - p.pad[0];  // d = z * s + off
  TapRange r;
  // smallest z with z * s + off >= 0; largest z with z * s + off <= D - 1
  r.lo = off >= 0 ? 0 : (-off + s - 1) / s;
  r.hi = (p.D - 1 - off) < 0 ? 0 : (p.D - 1 - off) / s + 1;
  r.hi = std::min(r.hi, p.Z);
  if (r.hi < r.lo) r.hi = r.lo;
  r.d_lo = r.lo * s + off;
  return r;
}

// The 2-D problem of image n, tap t: batch = r.count(), with x and y offsets into the 3-D arrays.
inline Conv2dParams slice_params(const Conv3dParams& p, const TapRange& r) {
  Conv2dParams q;
  q.N = r.count(), q.C = p.C, q.H = p.H, q.W = p.W;
  q.K = p.K, q.R = p.R, q.S = p.S, q.P = p.P, q.Q = p.Q;
  q.groups = p.groups;
  q.stride_h = p.stride[1], q.stride_w = p.stride[2];
  q.pad_h = p.pad[1], q.pad_w = p.pad[2];
  q.dilation_h = p.dilation[1], q.dilation_w = p.dilation[2];
  const int64_t* xs = p.x_strides;
  const int64_t* ws = p.w_strides;
  const int64_t* ys = p.y_strides;
  const int64_t x4[4] = {xs[2] * p.stride[0], xs[1], xs[3], xs[4]};
  const int64_t w4[4] = {ws[0], ws[1], ws[3], ws[4]};
  const int64_t y4[4] = {ys[2], ys[1], ys[3], ys[4]};
  std::copy(x4, x4 + 4, q.x_strides);
  std::copy(w4, w4 + 4, q.w_strides);
  std::copy(y4, y4 + 4, q.y_strides);
  q.algorithm = p.algorithm;
  return q;
}

// dst[i0, i1, i2, i3] (+)= src[...] over a 4-D box; src contiguous, dst strided. accumulate=false copies.
template <typename T>
void add_box(const T* src, const int64_t extent[4], T* dst, const int64_t dst_strides[4], bool accumulate) {
  const int64_t rows = extent[0] * extent[1] * extent[2];
  const int64_t len = extent[3];
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, len)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t i2 = r % extent[2], i1 = (r / extent[2]) % extent[1], i0 = r / (extent[2] * extent[1]);
      T* d = dst + i0 * dst_strides[0] + i1 * dst_strides[1] + i2 * dst_strides[2];
      const T* s = src + r * len;
      if (accumulate) {
        for (int64_t i = 0; i < len; ++i) d[i * dst_strides[3]] += s[i];
      } else {
        for (int64_t i = 0; i < len; ++i) d[i * dst_strides[3]] = s[i];
      }
    }
  });
}

// dst[i0, i1, i2, i3] = values[i0 * value_stride] (zero when values is null) over a 4-D box.
template <typename T>
void fill_box(const T* values, int64_t value_stride, const int64_t extent[4], T* dst, const int64_t dst_strides[4]) {
  const int64_t rows = extent[0] * extent[1] * extent[2];
  parallel_for(0, rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, extent[3])), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t i2 = r % extent[2], i1 = (r / extent[2]) % extent[1], i0 = r / (extent[2] * extent[1]);
      T* d = dst + i0 * dst_strides[0] + i1 * dst_strides[1] + i2 * dst_strides[2];
      const T value = values ? values[i0 * value_stride] : T(0);
      for (int64_t i = 0; i < extent[3]; ++i) d[i * dst_strides[3]] = value;
    }
  });
}

}  // namespace conv3d
}  // namespace fastconv
