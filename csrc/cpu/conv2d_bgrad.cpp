// conv2d backward-bias: db[k] = sum over n, p, q of dy[n, k, p, q].
// One task per channel, summed in a fixed order (deterministic for any thread count).
//   dy: (N, K, P, Q)   db: (K,)
#include "fastconv/conv.h"
#include "parallel.h"

namespace fastconv {

template <typename T>
void conv2d_bgrad(const Conv2dParams& p, const T* dy, T* db) {
  const int64_t* ys = p.y_strides;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      T sum = T(0);
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < p.P; ++i) {
          const T* row = dy + n * ys[0] + k * ys[1] + i * ys[2];
          for (int64_t j = 0; j < p.Q; ++j) sum += row[j * ys[3]];
        }
      db[k * p.b_stride] = sum;
    }
  });
}

template void conv2d_bgrad<float>(const Conv2dParams&, const float*, float*);
template void conv2d_bgrad<double>(const Conv2dParams&, const double*, double*);

}  // namespace fastconv
