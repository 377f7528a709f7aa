// mse_loss backward: dx = 2 (x - target) g, g = dy (none: per element; sum: dy[0]; mean: dy[0] / n);
// dtarget = -dx.
#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void mse_loss_dgrad(Reduction r, int64_t n, const T* dy, const T* x, const T* target, T* dx, T* dtarget) {
  const T scale = r == Reduction::mean ? static_cast<T>(2.0 / static_cast<double>(n)) : T(2);
  cpu::parallel_items(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T g = (r == Reduction::none ? dy[i] : dy[0]) * scale;
      const T v = g * (x[i] - target[i]);
      if (dx) dx[i] = v;
      if (dtarget) dtarget[i] = -v;
    }
  });
}

template void mse_loss_dgrad<float>(Reduction, int64_t, const float*, const float*, const float*, float*, float*);
template void mse_loss_dgrad<double>(Reduction, int64_t, const double*, const double*, const double*, double*,
                                     double*);

}  // namespace fastconv
