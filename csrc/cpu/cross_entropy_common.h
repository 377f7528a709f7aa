// What cross_entropy's forward and backward share: the per-class weight and the mean's divisor,
// as torch.nn.functional.cross_entropy defines them.
#pragma once

#include <cstdint>

#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {
namespace cpu {

template <typename T>
inline T class_weight(const T* weight, int64_t c) {
  return weight ? weight[c] : T(1);
}

// Mean divisor: class targets divide by the summed weight of the non-ignored targets (their count
// without weights); probability targets by the number of samples N * inner.
template <typename T>
double cross_entropy_mean_divisor(const CrossEntropyParams& p, const int64_t* class_target, const T* weight) {
  const int64_t samples = p.N * p.inner;
  if (p.prob_target) return static_cast<double>(samples);
  return fixed_order_sum(samples, [&](int64_t s) {
    const int64_t t = class_target[s];
    return t == p.ignore_index ? T(0) : class_weight(weight, t);
  });
}

}  // namespace cpu
}  // namespace fastconv
