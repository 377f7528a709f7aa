// Element-wise activation gradients through the forward's output y (see nn.h).
#include <algorithm>
#include <stdexcept>

#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void activation_dgrad(Activation act, int64_t n, const T* dy, const T* y, T* dx) {
  cpu::parallel_items(n, 1, [&](int64_t lo, int64_t hi) {
    switch (act) {
      case Activation::none:
        if (dx != dy) std::copy(dy + lo, dy + hi, dx + lo);
        break;
      case Activation::relu:
        for (int64_t i = lo; i < hi; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
        break;
      case Activation::sigmoid:
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (y[i] * (T(1) - y[i]));
        break;
      case Activation::tanh:
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
        break;
      default:
        throw std::invalid_argument("activation_dgrad: softmax is not element-wise");
    }
  });
}

template void activation_dgrad<float>(Activation, int64_t, const float*, const float*, float*);
template void activation_dgrad<double>(Activation, int64_t, const double*, const double*, double*);

}  // namespace fastconv
