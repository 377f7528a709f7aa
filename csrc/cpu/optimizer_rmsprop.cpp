// Keras's RMSprop update (training.h) over all parameters in one call.
#include <cmath>

#include "fastconv/training.h"
#include "optimizer_blocks.h"

namespace fastconv {

template <typename T>
void rmsprop_update(const OptimizerSlot<T>* slots, int64_t count, double lr, double rho, double momentum,
                    double epsilon) {
  const T lr_t = static_cast<T>(lr), r = static_cast<T>(rho), c = static_cast<T>(1.0 - rho);
  const T mu = static_cast<T>(momentum), eps = static_cast<T>(epsilon);
  cpu::for_each_optimizer_block(slots, count, [&](const OptimizerSlot<T>& sl, int64_t i0, int64_t i1) {
    // the Python layer gives distinct buffers (ivdep: no aliasing), so the loops vectorise
    T* p = sl.param;
    T* vp = sl.v;
    T* mp = sl.m;
    const T* gp = sl.grad;
    if (mp) {
#pragma GCC ivdep
      for (int64_t i = i0; i < i1; ++i) {
        const T g = gp[i];
        const T v = r * vp[i] + c * (g * g);
        vp[i] = v;
        const T m = mu * mp[i] + lr_t * g / std::sqrt(v + eps);
        mp[i] = m;
        p[i] -= m;
      }
    } else {
#pragma GCC ivdep
      for (int64_t i = i0; i < i1; ++i) {
        const T g = gp[i];
        const T v = r * vp[i] + c * (g * g);
        vp[i] = v;
        p[i] -= lr_t * g / std::sqrt(v + eps);
      }
    }
  });
}

template void rmsprop_update<float>(const OptimizerSlot<float>*, int64_t, double, double, double, double);
template void rmsprop_update<double>(const OptimizerSlot<double>*, int64_t, double, double, double, double);

}  // namespace fastconv
