// softmax / log_softmax over the middle axis of x: (outer, D, inner), contiguous.
// Stable form: m = max_d x, s = sum_d exp(x - m); softmax = exp(x - m) / s, log_softmax = (x - m) - log s.
// A row holding NaN gives NaN; a row of -inf gives NaN (as torch does).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void softmax_fprop(const SoftmaxParams& p, const T* x, T* y) {
  const int64_t D = p.D, inner = p.inner;
  if (p.outer == 0 || D == 0 || inner == 0) return;
  // Work items are (outer, inner block) pairs; the inner block is the vector the loops run along.
  constexpr int64_t kInnerBlock = 64;
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  cpu::parallel_items(p.outer * blocks, D * std::min(inner, kInnerBlock), [&](int64_t lo, int64_t hi) {
    T m[kInnerBlock], s[kInnerBlock];
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t o = item / blocks, i0 = (item % blocks) * kInnerBlock;
      const int64_t len = std::min(kInnerBlock, inner - i0);
      const T* xo = x + o * D * inner + i0;
      T* yo = y + o * D * inner + i0;
      std::fill(m, m + len, -std::numeric_limits<T>::infinity());
      std::fill(s, s + len, T(0));
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < len; ++i) {
          const T v = xo[d * inner + i];
          m[i] = (v > m[i] || std::isnan(v)) ? v : m[i];
        }
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < len; ++i) {
          const T e = std::exp(xo[d * inner + i] - m[i]);
          s[i] += e;
          if (!p.log) yo[d * inner + i] = e;
        }
      if (p.log) {
        // (x - m) - log s: x - m is exact near the maximum, where m + log s would round
        for (int64_t i = 0; i < len; ++i) s[i] = std::log(s[i]);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < len; ++i) yo[d * inner + i] = (xo[d * inner + i] - m[i]) - s[i];
      } else {
        for (int64_t i = 0; i < len; ++i) s[i] = T(1) / s[i];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < len; ++i) yo[d * inner + i] *= s[i];
      }
    }
  });
}

template void softmax_fprop<float>(const SoftmaxParams&, const float*, float*);
template void softmax_fprop<double>(const SoftmaxParams&, const double*, double*);

}  // namespace fastconv
