// Fused bias + activation backward: dpre = dy * act'(pre) from the forward's output y, then the
// bias gradient as fixed-order column sums of dpre.   dy, y, dpre: (rows, C)   db: (C,)
#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

template <typename T>
void bias_act_dgrad(int64_t rows, int64_t C, const T* dy, const T* y, Activation act, T* dpre, T* db) {
  if (act == Activation::softmax) {
    softmax_dgrad<T>(SoftmaxParams{rows, C, 1, false}, dy, y, dpre);
  } else {
    // activation_dgrad runs one element-wise pass; per row here so that rows split across threads
    cpu::parallel_items(rows, C, [&](int64_t lo, int64_t hi) {
      activation_dgrad<T>(act, (hi - lo) * C, dy + lo * C, y + lo * C, dpre + lo * C);
    });
  }
  if (db) column_sum<T>(rows, C, MatrixView<T>{dpre, C, 1}, db);
}

template void bias_act_dgrad<float>(int64_t, int64_t, const float*, const float*, Activation, float*, float*);
template void bias_act_dgrad<double>(int64_t, int64_t, const double*, const double*, Activation, double*, double*);

}  // namespace fastconv
