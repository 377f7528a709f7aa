// Dense-layer, activation, softmax and loss problems, and their CPU entry points.
//
// Matrices are given by a pointer and element strides per axis (any view: transposed, sliced);
// element-wise and softmax kernels take contiguous arrays. Every reduction runs in a fixed order
// that does not depend on the thread count, so results are bit-identical for any set_num_threads.
#pragma once

#include <cstdint>

namespace fastconv {

// A read-only 2-D view: element (i, j) at data[i * rs + j * cs].
template <typename T>
struct MatrixView {
  const T* data = nullptr;
  int64_t rs = 0, cs = 0;
  const T& operator()(int64_t i, int64_t j) const { return data[i * rs + j * cs]; }
};

// y = x w^T + b
//   x: (N, in)   w: (out, in)   b: (out,) or null   y, dy: (N, out) with row stride ldy, unit columns
struct LinearParams {
  int64_t N = 0, in = 0, out = 0;
};

void check_linear_params(const LinearParams& p);

template <typename T>
void linear_fprop(const LinearParams& p, MatrixView<T> x, MatrixView<T> w, const T* b, T* y, int64_t ldy);
// dx: (N, in) with row stride ldx, unit columns.
template <typename T>
void linear_dgrad(const LinearParams& p, MatrixView<T> dy, MatrixView<T> w, T* dx, int64_t ldx);
// dw: (out, in) with row stride ldw, unit columns.
template <typename T>
void linear_wgrad(const LinearParams& p, MatrixView<T> dy, MatrixView<T> x, T* dw, int64_t ldw);

// db[c] = sum over rows r of dy(r, c), rows added in ascending order.   dy: (rows, cols)
template <typename T>
void column_sum(int64_t rows, int64_t cols, MatrixView<T> dy, T* db);

enum class Activation { none = 0, relu = 1, sigmoid = 2, tanh = 3, softmax = 4 };

// Element-wise y = f(x) over n contiguous values (x == y allowed). Not for softmax.
template <typename T>
void activation_fprop(Activation act, int64_t n, const T* x, T* y);
// dx = dy * f'(pre) written through the forward's output y = f(pre), which is what each of these
// derivatives needs (relu: y > 0; sigmoid: y (1 - y); tanh: 1 - y^2). dx == dy allowed.
template <typename T>
void activation_dgrad(Activation act, int64_t n, const T* dy, const T* y, T* dx);

// Softmax over the middle axis of a contiguous (outer, D, inner) array.
struct SoftmaxParams {
  int64_t outer = 0, D = 0, inner = 1;
  bool log = false;  // log_softmax
};
template <typename T>
void softmax_fprop(const SoftmaxParams& p, const T* x, T* y);
// From the forward's output y: softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - exp(y) sum(dy).
// dx == dy allowed.
template <typename T>
void softmax_dgrad(const SoftmaxParams& p, const T* dy, const T* y, T* dx);

enum class Reduction { none = 0, mean = 1, sum = 2 };

// Cross-entropy of logits x: (N, C, inner) contiguous, following torch.nn.functional.cross_entropy.
// Class targets: int64 (N, inner); probability targets: (N, C, inner) of x's dtype.
struct CrossEntropyParams {
  int64_t N = 0, C = 0, inner = 1;
  bool prob_target = false;
  int64_t ignore_index = -100;  // class targets only
  double label_smoothing = 0.0;
  Reduction reduction = Reduction::mean;
};
// Throws std::invalid_argument for a class target outside [0, C) that is not ignore_index.
void check_cross_entropy_targets(const CrossEntropyParams& p, const int64_t* target);
// loss: (N, inner) for Reduction::none, else one value. lsm: scratch (N, C, inner), receives log_softmax(x).
template <typename T>
void cross_entropy_fprop(const CrossEntropyParams& p, const T* x, const int64_t* class_target, const T* prob_target,
                         const T* weight, T* lsm, T* loss);
// dx: (N, C, inner); dtarget (probability targets only, may be null): (N, C, inner).
// dy: (N, inner) for Reduction::none, else one value. lsm: log_softmax(x) from cross_entropy_fprop.
template <typename T>
void cross_entropy_dgrad(const CrossEntropyParams& p, const T* dy, const T* lsm, const int64_t* class_target,
                         const T* prob_target, const T* weight, T* dx, T* dtarget);

// Squared error over n contiguous values; loss: n values for Reduction::none, else one.
template <typename T>
void mse_loss_fprop(Reduction r, int64_t n, const T* x, const T* target, T* loss);
// dx = 2 (x - target) dy (/ n for mean); dtarget = -dx. Either output may be null.
template <typename T>
void mse_loss_dgrad(Reduction r, int64_t n, const T* dy, const T* x, const T* target, T* dx, T* dtarget);

}  // namespace fastconv
