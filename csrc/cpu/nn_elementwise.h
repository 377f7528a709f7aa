// Splitting element-wise and row-wise work between threads: fixed chunks, and one thread for
// small arrays, where waking the pool costs more than the work.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "parallel.h"

namespace fastconv {
namespace cpu {

constexpr int64_t kSerialElements = 1 << 15;

// fn(lo, hi) over [0, n) for work items costing about `cost` elements each.
template <typename Fn>
void parallel_items(int64_t n, int64_t cost, Fn&& fn) {
  if (n <= 0) return;
  const int64_t per_thread = std::max<int64_t>(1, kSerialElements / std::max<int64_t>(cost, 1));
  if (n * std::max<int64_t>(cost, 1) < kSerialElements) {
    fn(int64_t{0}, n);
    return;
  }
  parallel_for(0, n, per_thread, fn);
}

}  // namespace cpu
}  // namespace fastconv

namespace fastconv {
namespace cpu {

// sum_{i < n} value(i) in double, in blocks of a fixed size added in order: the same bits for any
// thread count.
template <typename Value>
double fixed_order_sum(int64_t n, Value&& value) {
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks <= 1) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(value(i));
    return s;
  }
  std::vector<double> partial(static_cast<size_t>(blocks));
  parallel_items(blocks, kBlock, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      double s = 0;
      for (int64_t i = b * kBlock, end = std::min(n, (b + 1) * kBlock); i < end; ++i)
        s += static_cast<double>(value(i));
      partial[static_cast<size_t>(b)] = s;
    }
  });
  double s = 0;
  for (double v : partial) s += v;
  return s;
}

}  // namespace cpu
}  // namespace fastconv
