// Fused bias + activation forward, in place over y: (rows, C). One pass over memory: each row gets
// its bias and activation while it is in cache; softmax is max-subtracted per row.
#include <algorithm>
#include <cmath>
#include <limits>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void bias_act_fprop(int64_t rows, int64_t C, T* y, const T* b, Activation act) {
  cpu::parallel_items(rows, C, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      T* row = y + r * C;
      if (b)
        for (int64_t c = 0; c < C; ++c) row[c] += b[c];
      if (act == Activation::softmax) {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t c = 0; c < C; ++c) m = (row[c] > m || std::isnan(row[c])) ? row[c] : m;
        T s = 0;
        for (int64_t c = 0; c < C; ++c) {
          row[c] = std::exp(row[c] - m);
          s += row[c];
        }
        const T inv = T(1) / s;
        for (int64_t c = 0; c < C; ++c) row[c] *= inv;
      } else if (act != Activation::none) {
        activation_fprop<T>(act, C, row, row);
      }
    }
  });
}

template void bias_act_fprop<float>(int64_t, int64_t, float*, const float*, Activation);
template void bias_act_fprop<double>(int64_t, int64_t, double*, const double*, Activation);

}  // namespace fastconv
