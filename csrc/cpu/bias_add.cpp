// y[n, k, d, h, w] += b[k], any strides; the innermost loop runs along the smallest spatial stride.
#include <cstdint>

#include "cpu/parallel.h"
#include "fastconv/bias.h"

namespace fastconv {

template <typename T>
void bias_add(const BiasAddParams& p, const T* b, T* y) {
  const int64_t* s = p.y_strides;
  const int64_t plane = p.D * p.H * p.W;
  const int64_t grain = plane > 0 ? 1 + 16384 / plane : 1;
  parallel_for(0, p.N * p.K, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t v = lo; v < hi; ++v) {
      const int64_t n = v / p.K, k = v % p.K;
      const T bk = b[k * p.b_stride];
      T* yk = y + n * s[0] + k * s[1];
      for (int64_t d = 0; d < p.D; ++d)
        for (int64_t h = 0; h < p.H; ++h) {
          T* row = yk + d * s[2] + h * s[3];
          for (int64_t w = 0; w < p.W; ++w) row[w * s[4]] += bk;
        }
    }
  });
}

template void bias_add<float>(const BiasAddParams&, const float*, float*);
template void bias_add<double>(const BiasAddParams&, const double*, double*);

}  // namespace fastconv
