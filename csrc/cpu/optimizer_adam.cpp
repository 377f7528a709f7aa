// Keras's Adam update (training.h) over all parameters in one call.
#include <cmath>
#include <stdexcept>

#include "fastconv/training.h"
#include "optimizer_blocks.h"

namespace fastconv {

template <typename T>
void adam_update(const OptimizerSlot<T>* slots, int64_t count, int64_t step, double lr, double beta_1, double beta_2,
                 double epsilon) {
  if (step < 1) throw std::invalid_argument("adam_update: step must be >= 1 (iterations + 1)");
  const double s = static_cast<double>(step);
  const T alpha = static_cast<T>(lr * std::sqrt(1.0 - std::pow(beta_2, s)) / (1.0 - std::pow(beta_1, s)));
  const T b1 = static_cast<T>(beta_1), b2 = static_cast<T>(beta_2), eps = static_cast<T>(epsilon);
  const T c1 = static_cast<T>(1.0 - beta_1), c2 = static_cast<T>(1.0 - beta_2);
  cpu::for_each_optimizer_block(slots, count, [&](const OptimizerSlot<T>& sl, int64_t i0, int64_t i1) {
    // the Python layer gives distinct buffers (ivdep: no aliasing), so the loop vectorises
    T* p = sl.param;
    T* mp = sl.m;
    T* vp = sl.v;
    const T* gp = sl.grad;
#pragma GCC ivdep
    for (int64_t i = i0; i < i1; ++i) {
      const T g = gp[i];
      const T m = b1 * mp[i] + c1 * g;
      const T v = b2 * vp[i] + c2 * (g * g);
      mp[i] = m;
      vp[i] = v;
      p[i] -= (m * alpha) / (std::sqrt(v) + eps);
    }
  });
}

template void adam_update<float>(const OptimizerSlot<float>*, int64_t, int64_t, double, double, double, double);
template void adam_update<double>(const OptimizerSlot<double>*, int64_t, int64_t, double, double, double, double);

}  // namespace fastconv
