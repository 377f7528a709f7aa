// Shared pieces of the 3-D pooling kernels: work split over (n, c) volumes, window bounds.
// Each volume is handled by one thread from start to end, so backward passes can accumulate into
// their own dx volume in a fixed order (deterministic, no races) whatever the thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/parallel.h"
#include "fastconv/pool3d.h"

namespace fastconv {
namespace pool3d {

// fn(n, c) for every volume, in parallel; grain chosen so small volumes are batched per task.
template <typename Fn>
void for_each_volume(const Pool3dParams& p, int64_t work_per_volume, Fn&& fn) {
  const int64_t volumes = p.N * p.C;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_volume));
  parallel_for(0, volumes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t v = lo; v < hi; ++v) fn(v / p.C, v % p.C);
  });
}

inline int64_t offset(const int64_t* s, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return n * s[0] + c * s[1] + d * s[2] + h * s[3] + w * s[4];
}

// Adaptive window [lo, hi) of output o on an axis of `in` inputs and `out` outputs.
inline void adaptive_window(int64_t o, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = (o * in) / out;
  hi = ((o + 1) * in + out - 1) / out;
}

// Zero one dx volume.
template <typename T>
void zero_volume(const Pool3dParams& p, const int64_t* s, T* dx, int64_t n, int64_t c) {
  for (int64_t d = 0; d < p.D; ++d)
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t w = 0; w < p.W; ++w) dx[offset(s, n, c, d, h, w)] = T(0);
}

}  // namespace pool3d
}  // namespace fastconv
