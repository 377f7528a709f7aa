// Keras's categorical cross-entropy of probabilities and its gradient in one pass over x: (rows, C)
// (see training.h). Per-row losses go to a buffer and are summed in a fixed order.
#include <cmath>
#include <limits>
#include <vector>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
double categorical_cross_entropy(int64_t rows, int64_t C, const T* x, const T* target, double eps, T* dx) {
  std::vector<T> loss(static_cast<size_t>(rows));
  const T inv_rows = rows ? T(1) / static_cast<T>(rows) : T(0);
  const T lo_clip = static_cast<T>(eps), hi_clip = static_cast<T>(1.0 - eps);
  cpu::parallel_items(rows, C, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * C;
      const T* tr = target + r * C;
      T s = 0;
      for (int64_t c = 0; c < C; ++c) s += xr[c];
      T l = 0, dot = 0;
      for (int64_t c = 0; c < C; ++c) {
        const T p = xr[c] / s;
        const T pc = p < lo_clip ? lo_clip : (p > hi_clip ? hi_clip : p);
        l -= tr[c] * std::log(pc);
        if (dx) {
          const T dp = (p >= lo_clip && p <= hi_clip) ? -tr[c] / pc * inv_rows : T(0);
          dx[r * C + c] = dp;  // dL/dp for now; made dL/dx below
          dot += dp * p;
        }
      }
      loss[static_cast<size_t>(r)] = l;
      if (dx)
        for (int64_t c = 0; c < C; ++c) dx[r * C + c] = (dx[r * C + c] - dot) / s;
    }
  });
  const double total = cpu::fixed_order_sum(rows, [&](int64_t r) { return loss[static_cast<size_t>(r)]; });
  return rows ? total / static_cast<double>(rows) : std::numeric_limits<double>::quiet_NaN();
}

template double categorical_cross_entropy<float>(int64_t, int64_t, const float*, const float*, double, float*);
template double categorical_cross_entropy<double>(int64_t, int64_t, const double*, const double*, double, double*);

}  // namespace fastconv
