// Keras's SGD update (training.h), plain, with momentum or Nesterov momentum, over all parameters
// in one call.
#include "fastconv/training.h"
#include "optimizer_blocks.h"

namespace fastconv {

template <typename T>
void sgd_update(const OptimizerSlot<T>* slots, int64_t count, double lr, double momentum, bool nesterov) {
  const T lr_t = static_cast<T>(lr), mu = static_cast<T>(momentum);
  cpu::for_each_optimizer_block(slots, count, [&](const OptimizerSlot<T>& sl, int64_t i0, int64_t i1) {
    if (momentum == 0.0 || !sl.m) {
      for (int64_t i = i0; i < i1; ++i) sl.param[i] -= sl.grad[i] * lr_t;
      return;
    }
    for (int64_t i = i0; i < i1; ++i) {
      const T g = sl.grad[i];
      const T m = sl.m[i] * mu - g * lr_t;
      sl.m[i] = m;
      sl.param[i] += nesterov ? m * mu - g * lr_t : m;
    }
  });
}

template void sgd_update<float>(const OptimizerSlot<float>*, int64_t, double, double, bool);
template void sgd_update<double>(const OptimizerSlot<double>*, int64_t, double, double, bool);

}  // namespace fastconv
