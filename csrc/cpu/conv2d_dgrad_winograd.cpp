// conv2d backward-data by Winograd F(4x4, 3x3), for stride 1 and dilation 1: the gradient of a
// 3x3 correlation is the correlation of dy with the filters rotated by 180 degrees and with input
// and output channels swapped, padded by 2 - pad:
//   dx[n, c, h, v] = sum over k, r, s of dy[n, k, h - (2 - pad_h) + r, ...] * w[k, c, 2 - r, 2 - s]
// so it runs as conv2d_fprop_winograd on a view of w with negated spatial strides, one group at
// a time (the view's channel order differs from a grouped layout).
//   dy: (N, K, P, Q)   w: (K, C/G, 3, 3)   dx: (N, C, H, W)
#include "conv2d_algorithms.h"

namespace fastconv {

bool conv2d_dgrad_winograd_applies(const Conv2dParams& p) {
  return conv2d_winograd_applies(p) && p.pad_h <= 2 && p.pad_w <= 2;
}

template <typename T>
void conv2d_dgrad_winograd(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t Cg = p.C_per_group(), Kg = p.K_per_group();
  Conv2dParams q;
  q.N = p.N, q.C = Kg, q.H = p.P, q.W = p.Q;
  q.K = Cg, q.R = 3, q.S = 3;
  q.P = p.H, q.Q = p.W;
  q.groups = 1;
  q.pad_h = 2 - p.pad_h, q.pad_w = 2 - p.pad_w;
  for (int i = 0; i < 4; ++i) q.x_strides[i] = p.y_strides[i], q.y_strides[i] = p.x_strides[i];
  // w'[c, k, r, s] = w[k, c, 2 - r, 2 - s]
  q.w_strides[0] = p.w_strides[1];
  q.w_strides[1] = p.w_strides[0];
  q.w_strides[2] = -p.w_strides[2];
  q.w_strides[3] = -p.w_strides[3];
  q.algorithm = Conv2dAlgorithm::winograd;
  for (int64_t g = 0; g < p.groups; ++g)
    conv2d_fprop_winograd<T>(q, dy + g * Kg * p.y_strides[1],
                             w + g * Kg * p.w_strides[0] + 2 * p.w_strides[2] + 2 * p.w_strides[3], nullptr,
                             dx + g * Cg * p.x_strides[1]);
}

template void conv2d_dgrad_winograd<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_winograd<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
