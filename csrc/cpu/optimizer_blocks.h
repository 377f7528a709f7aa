// Work split for the fused optimizer updates: fixed blocks of elements over all parameter tensors,
// so one pool wake-up serves the whole model and small tensors share a thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {
namespace cpu {

constexpr int64_t kOptimizerBlock = 8192;

// fn(slot, begin, end) for every block, on the pool.
template <typename T, typename Fn>
void for_each_optimizer_block(const OptimizerSlot<T>* slots, int64_t count, Fn&& fn) {
  std::vector<std::pair<int64_t, int64_t>> blocks;
  for (int64_t s = 0; s < count; ++s)
    for (int64_t i = 0; i < slots[s].n; i += kOptimizerBlock) blocks.emplace_back(s, i);
  parallel_items(static_cast<int64_t>(blocks.size()), kOptimizerBlock, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const OptimizerSlot<T>& slot = slots[blocks[k].first];
      const int64_t begin = blocks[k].second;
      fn(slot, begin, std::min(slot.n, begin + kOptimizerBlock));
    }
  });
}

}  // namespace cpu
}  // namespace fastconv
