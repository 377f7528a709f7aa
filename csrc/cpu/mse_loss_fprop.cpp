// mse_loss forward: (x - target)^2 element-wise, or its sum / mean in a fixed order.
#include "fastconv/nn.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void mse_loss_fprop(Reduction r, int64_t n, const T* x, const T* target, T* loss) {
  const auto sq = [&](int64_t i) {
    const T d = x[i] - target[i];
    return d * d;
  };
  if (r == Reduction::none) {
    cpu::parallel_items(n, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) loss[i] = sq(i);
    });
    return;
  }
  double total = cpu::fixed_order_sum(n, sq);
  if (r == Reduction::mean) total /= static_cast<double>(n);  // n == 0 gives NaN, as torch does
  loss[0] = static_cast<T>(total);
}

template void mse_loss_fprop<float>(Reduction, int64_t, const float*, const float*, float*);
template void mse_loss_fprop<double>(Reduction, int64_t, const double*, const double*, double*);

}  // namespace fastconv
