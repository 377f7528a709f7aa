// softmax / log_softmax gradients over the middle axis of (outer, D, inner), from the forward's
// output y: softmax dx = y (dy - sum_d dy y); log_softmax dx = dy - exp(y) sum_d dy.
#include <algorithm>
#include <cmath>

#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void softmax_dgrad(const SoftmaxParams& p, const T* dy, const T* y, T* dx) {
  const int64_t D = p.D, inner = p.inner;
  if (p.outer == 0 || D == 0 || inner == 0) return;
  constexpr int64_t kInnerBlock = 64;
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  cpu::parallel_items(p.outer * blocks, D * std::min(inner, kInnerBlock), [&](int64_t lo, int64_t hi) {
    T s[kInnerBlock];
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t o = item / blocks, i0 = (item % blocks) * kInnerBlock;
      const int64_t len = std::min(kInnerBlock, inner - i0);
      const int64_t base = o * D * inner + i0;
      const T *dyo = dy + base, *yo = y + base;
      T* dxo = dx + base;
      std::fill(s, s + len, T(0));
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < len; ++i) s[i] += p.log ? dyo[d * inner + i] : dyo[d * inner + i] * yo[d * inner + i];
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < len; ++i) {
          const int64_t k = d * inner + i;
          dxo[k] = p.log ? dyo[k] - std::exp(yo[k]) * s[i] : yo[k] * (dyo[k] - s[i]);
        }
    }
  });
}

template void softmax_dgrad<float>(const SoftmaxParams&, const float*, const float*, float*);
template void softmax_dgrad<double>(const SoftmaxParams&, const double*, const double*, double*);

}  // namespace fastconv
