// Fused kernels for training dense and convolution layers: bias + activation, softmax
// cross-entropy with integer labels, and optimizer updates over many parameters in one call.
// Arrays are contiguous; channels (the bias axis, the class axis) are the last axis.
#pragma once

#include <cstdint>

#include "fastconv/nn.h"

namespace fastconv {

// y: (rows, C), in place: y = act(y + b) (b may be null). Softmax runs over each row.
template <typename T>
void bias_act_fprop(int64_t rows, int64_t C, T* y, const T* b, Activation act);
// From the forward's output y: dpre = dy * act'(pre) (dpre may alias dy); db (may be null) =
// column sums of dpre, fixed row blocks added in order.   dy, y, dpre: (rows, C)   db: (C,)
template <typename T>
void bias_act_dgrad(int64_t rows, int64_t C, const T* dy, const T* y, Activation act, T* dpre, T* db);

// Keras's sparse categorical cross-entropy, mean over the rows ("sum_over_batch_size"):
//   from_logits:  loss_r = -log_softmax(x_r)[label_r]
//   else:         p_r = clip(x_r / sum(x_r), eps, 1 - eps),  loss_r = -log p_r[label_r]
// x, dx: (rows, C); labels: (rows,) in [0, C) (checked). dx (may be null) is the gradient of the
// mean loss, through the clip as torch.clip differentiates it (zero outside [eps, 1 - eps]).
// Returns the mean loss, summed in a fixed order.
template <typename T>
double sparse_softmax_cross_entropy(int64_t rows, int64_t C, const T* x, const int64_t* labels, bool from_logits,
                                    double eps, T* dx);

// Keras's categorical cross-entropy of probabilities (from_logits=False), mean over the rows:
//   p_r = x_r / sum(x_r),  pc = clip(p_r, eps, 1 - eps),  loss_r = -sum_c t_rc log pc_rc
// x, target, dx: (rows, C). dx (may be null) is the gradient of the mean: dL/dp = -t / pc inside the
// clip range (bounds included, as torch.clip differentiates), 0 outside; through p = x / s,
// dx_c = (dp_c - sum_k dp_k p_k) / s. Returns the mean loss, summed in a fixed order.
template <typename T>
double categorical_cross_entropy(int64_t rows, int64_t C, const T* x, const T* target, double eps, T* dx);

// Dropout's mask applied from uniforms u in [0, 1): y = x * (u >= rate ? 1 / (1 - rate) : 0), a
// product so that inf and NaN in x behave as in x * mask; the backward is the same map on dy.
//   x, y: (n,) (y may be x)   u: (n,) float32
template <typename T>
void dropout_apply(int64_t n, const T* x, const float* u, double rate, T* y);

// One tensor of an optimizer: n values of the parameter, its gradient and its state slots; the four
// arrays are distinct (no overlap), which lets the update loops vectorise.
template <typename T>
struct OptimizerSlot {
  T* param = nullptr;
  const T* grad = nullptr;
  T* m = nullptr;  // Adam first moment / SGD momentum buffer (null: SGD without momentum)
  T* v = nullptr;  // Adam second moment
  int64_t n = 0;
};

// Keras Adam (torch backend), step = iterations + 1:
//   alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)
//   m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2;  p -= alpha m / (sqrt(v) + epsilon)
template <typename T>
void adam_update(const OptimizerSlot<T>* slots, int64_t count, int64_t step, double lr, double beta_1, double beta_2,
                 double epsilon);
// Keras RMSprop (not centered), the velocity in slot v:
//   v = rho v + (1 - rho) g^2;  inc = lr g / sqrt(v + epsilon);
//   with momentum (slot m): m = momentum m + inc, p -= m;  without (m null): p -= inc
template <typename T>
void rmsprop_update(const OptimizerSlot<T>* slots, int64_t count, double lr, double rho, double momentum,
                    double epsilon);
// Keras SGD: with momentum, m = momentum m - lr g, then p += m (or p += momentum m - lr g with
// nesterov); without momentum p -= lr g.
template <typename T>
void sgd_update(const OptimizerSlot<T>* slots, int64_t count, double lr, double momentum, bool nesterov);

}  // namespace fastconv
