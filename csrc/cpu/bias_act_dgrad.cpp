// Fused bias + activation backward: dpre = dy * act'(pre) from the forward's output y, and the bias
// gradient as column sums of dpre, in the same pass over memory.   dy, y, dpre: (rows, C)   db: (C,)
// The column sums run over fixed blocks of rows (each summed in row order), and the blocks' sums are
// added in block order: the same bits for any thread count.
#include <algorithm>
#include <vector>

#include "fastconv/training.h"
#include "nn_elementwise.h"

namespace fastconv {

namespace {

constexpr int64_t kRowBlock = 256;

template <typename T, Activation A>
inline T act_dgrad(T g, T v) {
  if constexpr (A == Activation::relu) return v > T(0) ? g : T(0);
  else if constexpr (A == Activation::sigmoid) return g * (v * (T(1) - v));
  else if constexpr (A == Activation::tanh) return g * (T(1) - v * v);
  else return g;
}

// Rows [lo, hi): dpre = dy * act'(y); acc (C,) += the rows of dpre (when acc is not null).
template <typename T, Activation A>
void rows_dgrad(int64_t lo, int64_t hi, int64_t C, const T* dy, const T* y, T* dpre, T* __restrict acc) {
  for (int64_t r = lo; r < hi; ++r) {
    // dpre may alias dy (in place): each element is read before it is written
    const T* dyr = dy + r * C;
    const T* __restrict yr = y + r * C;
    T* dr = dpre + r * C;
    if (acc) {
      for (int64_t c = 0; c < C; ++c) {
        const T d = act_dgrad<T, A>(dyr[c], yr[c]);
        dr[c] = d;
        acc[c] += d;
      }
    } else {
      for (int64_t c = 0; c < C; ++c) dr[c] = act_dgrad<T, A>(dyr[c], yr[c]);
    }
  }
}

template <typename T, Activation A>
void dgrad(int64_t rows, int64_t C, const T* dy, const T* y, T* dpre, T* db) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<T> partial(db ? static_cast<size_t>(blocks * C) : 0, T(0));
  cpu::parallel_items(blocks, kRowBlock * C, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k)
      rows_dgrad<T, A>(k * kRowBlock, std::min(rows, (k + 1) * kRowBlock), C, dy, y, dpre,
                       db ? partial.data() + k * C : nullptr);
  });
  if (!db) return;
  std::fill(db, db + C, T(0));
  for (int64_t k = 0; k < blocks; ++k)
    for (int64_t c = 0; c < C; ++c) db[c] += partial[static_cast<size_t>(k * C + c)];
}

}  // namespace

template <typename T>
void bias_act_dgrad(int64_t rows, int64_t C, const T* dy, const T* y, Activation act, T* dpre, T* db) {
  switch (act) {
    case Activation::softmax:
      softmax_dgrad<T>(SoftmaxParams{rows, C, 1, false}, dy, y, dpre);
      if (db) column_sum<T>(rows, C, MatrixView<T>{dpre, C, 1}, db);
      return;
    case Activation::relu: return dgrad<T, Activation::relu>(rows, C, dy, y, dpre, db);
    case Activation::sigmoid: return dgrad<T, Activation::sigmoid>(rows, C, dy, y, dpre, db);
    case Activation::tanh: return dgrad<T, Activation::tanh>(rows, C, dy, y, dpre, db);
    default: return dgrad<T, Activation::none>(rows, C, dy, y, dpre, db);
  }
}

template void bias_act_dgrad<float>(int64_t, int64_t, const float*, const float*, Activation, float*, float*);
template void bias_act_dgrad<double>(int64_t, int64_t, const double*, const double*, Activation, double*, double*);

}  // namespace fastconv
