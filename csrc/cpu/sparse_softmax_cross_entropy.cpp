// Keras's sparse categorical cross-entropy and its gradient in one pass over x: (rows, C) (see
// training.h). Per-row losses go to a buffer and are summed in a fixed order.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
double sparse_softmax_cross_entropy(int64_t rows, int64_t C, const T* x, const int64_t* labels, bool from_logits,
                                    double eps, T* dx) {
  for (int64_t r = 0; r < rows; ++r)
    if (labels[r] < 0 || labels[r] >= C)
      throw std::invalid_argument("sparse_softmax_cross_entropy: label " + std::to_string(labels[r]) + " in row " +
                                  std::to_string(r) + " is outside [0, " + std::to_string(C) + ")");
  std::vector<T> loss(static_cast<size_t>(rows));
  const T inv_rows = rows ? T(1) / static_cast<T>(rows) : T(0);
  const T lo_clip = static_cast<T>(eps), hi_clip = static_cast<T>(1.0 - eps);
  cpu::parallel_items(rows, C, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * C;
      T* dr = dx ? dx + r * C : nullptr;
      const int64_t t = labels[r];
      if (from_logits) {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < C; ++c) m = (xr[c] > m || std::isnan(xr[c])) ? xr[c] : m;
        T s = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
        const T log_s = std::log(s);
        loss[static_cast<size_t>(r)] = -((xr[t] - m) - log_s);
        if (dr) {
          const T inv_s = T(1) / s;
          for (int64_t c = 0; c < C; ++c) dr[c] = std::exp(xr[c] - m) * inv_s * inv_rows;
          dr[t] -= inv_rows;
        }
      } else {
        T s = 0;
        for (int64_t c = 0; c < C; ++c) s += xr[c];
        const T p = xr[t] / s;
        const T pc = p < lo_clip ? lo_clip : (p > hi_clip ? hi_clip : p);
        loss[static_cast<size_t>(r)] = -std::log(pc);
        if (dr) {
          // d(-log pc)/dp = -1/pc inside the clip range (bounds included, as torch.clip), else 0;
          // dp/dx_c = ([c == t] - p) / s.
          const T g = (p >= lo_clip && p <= hi_clip) ? -inv_rows / pc : T(0);
          for (int64_t c = 0; c < C; ++c) dr[c] = -g * p / s;
          dr[t] += g / s;
        }
      }
    }
  });
  const double total = cpu::fixed_order_sum(rows, [&](int64_t r) { return loss[static_cast<size_t>(r)]; });
  return rows ? total / static_cast<double>(rows) : std::numeric_limits<double>::quiet_NaN();
}

template double sparse_softmax_cross_entropy<float>(int64_t, int64_t, const float*, const int64_t*, bool, double,
                                                    float*);
template double sparse_softmax_cross_entropy<double>(int64_t, int64_t, const double*, const int64_t*, bool, double,
                                                     double*);

}  // namespace fastconv
