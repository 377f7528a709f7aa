// Shared pieces of the 3-D pooling kernels: work split over (n, channel block), window bounds.
//
// A work item is image n and channels [c0, c0 + cb). Blocks are one channel wide for planar
// layouts and up to kMaxBlock wide when channels are the input's smallest stride (NDHWC), so the
// innermost loop walks contiguous memory. Each item is handled by one thread from start to end, so
// backward passes accumulate into their own dx elements in a fixed order (deterministic, no races)
// whatever the thread count; the arithmetic per element does not depend on the blocking.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "cpu/parallel.h"
#include "fastconv/pool3d.h"

namespace fastconv {
namespace pool3d {

constexpr int64_t kMaxBlock = 64;

inline int64_t block_width(const Pool3dParams& p) {
  const bool channels_inner = p.C > 1 && std::llabs(p.x_strides[1]) < std::llabs(p.x_strides[4]);
  return channels_inner ? std::min(p.C, kMaxBlock) : 1;
}

// Block kinds, as compile-time tags: one channel, channels at unit stride, channels strided. Kernels
// fix cb = 1 or the channel stride = 1 at compile time from them, so one-channel blocks keep their
// running values in registers and unit-stride blocks vectorise.
template <int K>
using BlockKind = std::integral_constant<int, K>;
constexpr int kOneChannel = 0, kUnitStride = 1, kStrided = 2;

template <typename Kind>
inline int64_t block_channels(Kind, int64_t cb) { return Kind::value == kOneChannel ? 1 : cb; }
template <typename Kind>
inline int64_t channel_stride(Kind, int64_t stride) { return Kind::value == kUnitStride ? 1 : stride; }

// fn(n, c0, cb, kind) for every (image, channel block), in parallel; `work_per_channel` sizes the grain.
template <typename Fn>
void for_each_block(const Pool3dParams& p, int64_t work_per_channel, Fn&& fn) {
  const int64_t width = block_width(p);
  const int64_t blocks = p.C > 0 ? (p.C + width - 1) / width : 0;
  const int64_t work = std::max<int64_t>(1, work_per_channel * width);
  const int64_t grain = std::max<int64_t>(1, 32768 / work);
  parallel_for(0, p.N * blocks, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t v = lo; v < hi; ++v) {
      const int64_t n = v / blocks, c0 = (v % blocks) * width;
      if (width == 1) fn(n, c0, int64_t(1), BlockKind<kOneChannel>{});
      else if (p.x_strides[1] == 1) fn(n, c0, std::min(width, p.C - c0), BlockKind<kUnitStride>{});
      else fn(n, c0, std::min(width, p.C - c0), BlockKind<kStrided>{});
    }
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

// Zero channels [c0, c0 + cb) of image n of dx.
template <typename T>
void zero_block(const Pool3dParams& p, const int64_t* s, T* dx, int64_t n, int64_t c0, int64_t cb) {
  for (int64_t d = 0; d < p.D; ++d)
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t w = 0; w < p.W; ++w) {
        T* at = dx + offset(s, n, c0, d, h, w);
        for (int64_t c = 0; c < cb; ++c) at[c * s[1]] = T(0);
      }
}

}  // namespace pool3d
}  // namespace fastconv
