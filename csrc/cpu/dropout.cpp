// Dropout's mask from given uniforms (training.h), forward and backward alike.
#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void dropout_apply(int64_t n, const T* x, const float* u, double rate, T* y) {
  const float r = static_cast<float>(rate);  // compared in float32, as the float32 uniforms are
  const T scale = static_cast<T>(1.0 / (1.0 - rate));
  cpu::parallel_items(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = x[i] * (u[i] >= r ? scale : T(0));
  });
}

template void dropout_apply<float>(int64_t, const float*, const float*, double, float*);
template void dropout_apply<double>(int64_t, const double*, const float*, double, double*);

}  // namespace fastconv
