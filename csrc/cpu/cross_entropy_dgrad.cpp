// cross_entropy backward, with p = exp(lsm) and g the upstream gradient of the sample's loss:
//   class targets:       dx[k] = g ((1 - eps) w[t] (p[k] - [k == t]) + eps / C (W p[k] - w[k])),  W = sum_c w[c]
//   probability targets: dx[k] = g (p[k] sum_c w[c] t'[c] - w[k] t'[k]),  dtarget[k] = -g (1 - eps) w[k] lsm[k]
// Ignored class targets get zero gradient.
#include "cross_entropy_common.h"
#include "fastconv/nn.h"
#include "nn_elementwise.h"

#include <cmath>

namespace fastconv {

template <typename T>
void cross_entropy_dgrad(const CrossEntropyParams& p, const T* dy, const T* lsm, const int64_t* class_target,
                         const T* prob_target, const T* weight, T* dx, T* dtarget) {
  check_cross_entropy_targets(p, class_target);
  const int64_t C = p.C, inner = p.inner, samples = p.N * p.inner;
  const T eps = static_cast<T>(p.label_smoothing);
  T scale = 1;
  if (p.reduction == Reduction::mean) scale = static_cast<T>(1.0 / cpu::cross_entropy_mean_divisor(p, class_target, weight));
  T w_total = 0;
  for (int64_t c = 0; c < C; ++c) w_total += cpu::class_weight(weight, c);
  cpu::parallel_items(samples, C, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) {
      const int64_t n = s / inner, i = s % inner, base = n * C * inner + i;
      const T g = (p.reduction == Reduction::none ? dy[s] : dy[0]) * scale;
      const T* l = lsm + base;
      T* d = dx + base;
      if (p.prob_target) {
        const T* t = prob_target + base;
        T wt_sum = 0;
        for (int64_t c = 0; c < C; ++c)
          wt_sum += cpu::class_weight(weight, c) * ((T(1) - eps) * t[c * inner] + eps / T(C));
        for (int64_t c = 0; c < C; ++c) {
          const T w = cpu::class_weight(weight, c);
          const T tc = (T(1) - eps) * t[c * inner] + eps / T(C);
          d[c * inner] = g * (std::exp(l[c * inner]) * wt_sum - w * tc);
          if (dtarget) dtarget[base + c * inner] = -g * (T(1) - eps) * w * l[c * inner];
        }
        continue;
      }
      const int64_t t = class_target[s];
      if (t == p.ignore_index) {
        for (int64_t c = 0; c < C; ++c) d[c * inner] = T(0);
        continue;
      }
      const T wt = (T(1) - eps) * cpu::class_weight(weight, t);
      for (int64_t c = 0; c < C; ++c) {
        const T pc = std::exp(l[c * inner]);
        T v = wt * (c == t ? pc - T(1) : pc);
        if (eps != T(0)) v += eps / T(C) * (w_total * pc - cpu::class_weight(weight, c));
        d[c * inner] = g * v;
      }
    }
  });
}

template void cross_entropy_dgrad<float>(const CrossEntropyParams&, const float*, const float*, const int64_t*,
                                         const float*, const float*, float*, float*);
template void cross_entropy_dgrad<double>(const CrossEntropyParams&, const double*, const double*, const int64_t*,
                                          const double*, const double*, double*, double*);

}  // namespace fastconv
