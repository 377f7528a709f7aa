// Fused bias + activation forward, in place over y: (rows, C). One pass over memory: each row gets
// its bias and activation while it is in cache; softmax is max-subtracted per row. The element-wise
// activations are written inline (not through activation_fprop) so the compiler vectorises each row.
#include <algorithm>
#include <cmath>
#include <limits>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

namespace {

template <typename T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
void softmax_row(int64_t C, T* row) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t c = 0; c < C; ++c) m = (row[c] > m || std::isnan(row[c])) ? row[c] : m;
  T s = 0;
  for (int64_t c = 0; c < C; ++c) {
    row[c] = std::exp(row[c] - m);
    s += row[c];
  }
  const T inv = T(1) / s;
  for (int64_t c = 0; c < C; ++c) row[c] *= inv;
}

// Rows [lo, hi) of y = act(y + b); relu keeps NaN as torch.relu does.
template <typename T, Activation A>
void rows_fprop(int64_t lo, int64_t hi, int64_t C, T* __restrict y, const T* __restrict b) {
  for (int64_t r = lo; r < hi; ++r) {
    T* __restrict row = y + r * C;
    if (b)
      for (int64_t c = 0; c < C; ++c) row[c] += b[c];
    for (int64_t c = 0; c < C; ++c) {
      const T z = row[c];
      if constexpr (A == Activation::relu) row[c] = z < T(0) ? T(0) : z;
      else if constexpr (A == Activation::sigmoid) row[c] = sigmoid(z);
      else if constexpr (A == Activation::tanh) row[c] = std::tanh(z);
    }
    if constexpr (A == Activation::softmax) softmax_row(C, row);
  }
}

template <typename T, Activation A>
void fprop(int64_t rows, int64_t C, T* y, const T* b) {
  if (A == Activation::none && !b) return;
  cpu::parallel_items(rows, C, [&](int64_t lo, int64_t hi) { rows_fprop<T, A>(lo, hi, C, y, b); });
}

}  // namespace

template <typename T>
void bias_act_fprop(int64_t rows, int64_t C, T* y, const T* b, Activation act) {
  switch (act) {
    case Activation::relu: return fprop<T, Activation::relu>(rows, C, y, b);
    case Activation::sigmoid: return fprop<T, Activation::sigmoid>(rows, C, y, b);
    case Activation::tanh: return fprop<T, Activation::tanh>(rows, C, y, b);
    case Activation::softmax: return fprop<T, Activation::softmax>(rows, C, y, b);
    default: return fprop<T, Activation::none>(rows, C, y, b);
  }
}

template void bias_act_fprop<float>(int64_t, int64_t, float*, const float*, Activation);
template void bias_act_fprop<double>(int64_t, int64_t, double*, const double*, Activation);

}  // namespace fastconv
