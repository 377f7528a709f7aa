// Channel blocking shared by the generic pooling loops (max_pool2d.cpp, avg_pool2d.cpp): how many
// channels one task handles, and a compile-time choice of the innermost channel loop.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace fastconv {
namespace pool_blocking {

constexpr int64_t kMaxBlock = 64;

struct Blocking {
  int64_t width;  // channels per block
  int64_t count;  // blocks per image
};

inline Blocking channel_blocking(int64_t C, int64_t c_stride, int64_t w_stride) {
  const bool channels_inner = C > 1 && std::llabs(c_stride) < std::llabs(w_stride);
  const int64_t width = channels_inner ? std::min(C, kMaxBlock) : 1;
  return {width, C > 0 ? (C + width - 1) / width : 0};
}

// The innermost (channel) loop: one channel, a block of unit-stride channels, or any block.
enum class Lanes { one, unit, strided };
template <Lanes L>
using LanesC = std::integral_constant<Lanes, L>;

template <Lanes L>
inline int64_t lane_count(int64_t cb) { return L == Lanes::one ? 1 : cb; }
template <Lanes L>
inline int64_t lane_stride(int64_t s) { return L == Lanes::unit ? 1 : s; }

template <typename Fn>
inline void with_lanes(int64_t block_width, int64_t channel_stride, Fn&& fn) {
  if (block_width == 1) fn(LanesC<Lanes::one>{});
  else if (channel_stride == 1) fn(LanesC<Lanes::unit>{});
  else fn(LanesC<Lanes::strided>{});
}

}  // namespace pool_blocking
}  // namespace fastconv
