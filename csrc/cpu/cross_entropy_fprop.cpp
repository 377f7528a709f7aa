// cross_entropy forward: log_softmax over C, then per sample s = (n, i)
//   class targets:       l = (1 - eps) w[t] (-lsm[t]) + eps / C sum_c w[c] (-lsm[c]), 0 where t == ignore_index
//   probability targets: l = -sum_c w[c] t'[c] lsm[c],  t' = (1 - eps) t + eps / C
// x, lsm: (N, C, inner)   class_target: (N, inner)   prob_target: (N, C, inner)   weight: (C,) or null
#include <stdexcept>
#include <string>
#include <vector>

#include "cross_entropy_common.h"
#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

void check_cross_entropy_targets(const CrossEntropyParams& p, const int64_t* target) {
  if (p.prob_target) return;
  for (int64_t s = 0; s < p.N * p.inner; ++s) {
    const int64_t t = target[s];
    if (t != p.ignore_index && (t < 0 || t >= p.C))
      throw std::invalid_argument("cross_entropy: target " + std::to_string(t) + " is out of bounds for " +
                                  std::to_string(p.C) + " classes");
  }
}

template <typename T>
void cross_entropy_fprop(const CrossEntropyParams& p, const T* x, const int64_t* class_target, const T* prob_target,
                         const T* weight, T* lsm, T* loss) {
  check_cross_entropy_targets(p, class_target);
  const int64_t C = p.C, inner = p.inner, samples = p.N * p.inner;
  softmax_fprop<T>(SoftmaxParams{p.N, C, inner, true}, x, lsm);
  const T eps = static_cast<T>(p.label_smoothing);
  const auto sample_loss = [&](int64_t s) -> T {
    const int64_t n = s / inner, i = s % inner;
    const T* l = lsm + n * C * inner + i;
    if (p.prob_target) {
      const T* t = prob_target + n * C * inner + i;
      T acc = 0;
      for (int64_t c = 0; c < C; ++c)
        acc -= cpu::class_weight(weight, c) * ((T(1) - eps) * t[c * inner] + eps / T(C)) * l[c * inner];
      return acc;
    }
    const int64_t t = class_target[s];
    if (t == p.ignore_index) return T(0);
    T out = -(T(1) - eps) * cpu::class_weight(weight, t) * l[t * inner];
    if (eps != T(0)) {
      T smooth = 0;
      for (int64_t c = 0; c < C; ++c) smooth -= cpu::class_weight(weight, c) * l[c * inner];
      out += eps / T(C) * smooth;
    }
    return out;
  };
  if (p.reduction == Reduction::none) {
    cpu::parallel_items(samples, C, [&](int64_t lo, int64_t hi) {
      for (int64_t s = lo; s < hi; ++s) loss[s] = sample_loss(s);
    });
    return;
  }
  std::vector<T> per_sample(static_cast<size_t>(samples));
  cpu::parallel_items(samples, C, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) per_sample[static_cast<size_t>(s)] = sample_loss(s);
  });
  double total = cpu::fixed_order_sum(samples, [&](int64_t s) { return per_sample[static_cast<size_t>(s)]; });
  if (p.reduction == Reduction::mean) total /= cpu::cross_entropy_mean_divisor(p, class_target, weight);
  loss[0] = static_cast<T>(total);
}

template void cross_entropy_fprop<float>(const CrossEntropyParams&, const float*, const int64_t*, const float*,
                                         const float*, float*, float*);
template void cross_entropy_fprop<double>(const CrossEntropyParams&, const double*, const int64_t*, const double*,
                                          const double*, double*, double*);

}  // namespace fastconv
