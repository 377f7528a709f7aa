// Element-wise activations y = f(x): relu, sigmoid, tanh (softmax is softmax_fprop). relu keeps NaN
// (as torch.relu does); sigmoid never evaluates exp of a large positive number.
#include <cmath>
#include <stdexcept>

#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
inline T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
void activation_fprop(Activation act, int64_t n, const T* x, T* y) {
  cpu::parallel_items(n, 1, [&](int64_t lo, int64_t hi) {
    switch (act) {
      case Activation::none:
        if (x != y) std::copy(x + lo, x + hi, y + lo);
        break;
      case Activation::relu:
        for (int64_t i = lo; i < hi; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
        break;
      case Activation::sigmoid:
        for (int64_t i = lo; i < hi; ++i) y[i] = sigmoid_of(x[i]);
        break;
      case Activation::tanh:
        for (int64_t i = lo; i < hi; ++i) y[i] = std::tanh(x[i]);
        break;
      default:
        throw std::invalid_argument("activation_fprop: softmax is not element-wise");
    }
  });
}

template void activation_fprop<float>(Activation, int64_t, const float*, float*);
template void activation_fprop<double>(Activation, int64_t, const double*, double*);

}  // namespace fastconv
