// conv2d entry points: check the problem once, then pick an algorithm (conv2d_algorithms.h).
#include <stdexcept>
#include <type_traits>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "scratch.h"

namespace fastconv {

namespace {

// Winograd F(4x4, 3x3) where it is both faster (enough channels to amortise the transforms, enough
// 4x4 tiles per image to waste little) and accurate enough: its float32 error stays inside the
// tolerance the tests hold every algorithm to (tests/test_conv2d_winograd.py). float64 keeps the
// direct sums.
template <typename T>
bool winograd_preferred(const Conv2dParams& p) {
  return std::is_same<T, float>::value && conv2d_winograd_applies(p) && p.C_per_group() >= 16 &&
         p.K_per_group() >= 16 && p.P >= 8 && p.Q >= 8 && p.H >= 8 && p.W >= 8;
}

// The algorithm a call runs: the one asked for when it applies to the shape, else the best for it.
template <typename T>
Conv2dAlgorithm choose(const Conv2dParams& p) {
  switch (p.algorithm) {
    case Conv2dAlgorithm::implicit_gemm: return Conv2dAlgorithm::implicit_gemm;
    case Conv2dAlgorithm::winograd:
      if (!conv2d_winograd_applies(p)) throw std::invalid_argument("conv2d: algorithm='winograd' needs 3x3 filters, stride 1, dilation 1");
      return Conv2dAlgorithm::winograd;
    case Conv2dAlgorithm::direct:
      if (!conv2d_is_depthwise(p))
        throw std::invalid_argument("conv2d: algorithm='direct' applies only to depthwise problems (groups == in_channels)");
      return Conv2dAlgorithm::direct;
    case Conv2dAlgorithm::automatic:
      // Depthwise proper (C > 1). A single input channel with many filters (groups == C == 1) goes
      // direct only with unit-stride output rows (NCHW): measured on 64x1x28x28 -> 32 there, fwd 2x
      // and wgrad 1.3x faster than the GEMM, dgrad even; channels-last it is mixed.
      if (conv2d_is_depthwise(p) && (p.C > 1 || p.K == 1 || p.y_strides[3] == 1)) return Conv2dAlgorithm::direct;
      return winograd_preferred<T>(p) ? Conv2dAlgorithm::winograd : Conv2dAlgorithm::implicit_gemm;
    default: throw std::invalid_argument("conv2d: algorithm not available for this problem");
  }
}

// With the Winograd algorithm chosen: whether dgrad runs it. Padding above 2 leaves no Winograd form
// of the gradient: the implicit GEMM computes it. Left to choose, small images take the col2im form,
// which measured faster than Winograd's dgrad there (its 4x4 tiles overhang an 11x11 or 13x13 image
// by a third).
bool dgrad_by_winograd(const Conv2dParams& p) {
  return conv2d_dgrad_winograd_applies(p) &&
         !(p.algorithm == Conv2dAlgorithm::automatic && conv2d_dgrad_col2im_channels_last_applies(p));
}

template <typename T>
bool dgrad_reads_channels_last_dy(const Conv2dParams& p) {
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::direct: return false;
    case Conv2dAlgorithm::winograd:
      if (dgrad_by_winograd(p)) return false;
      return conv2d_dgrad_implicit_gemm_reads_channels_last_dy(p);
    default: return conv2d_dgrad_implicit_gemm_reads_channels_last_dy(p);
  }
}

template <typename T>
bool wgrad_reads_channels_last_dy(const Conv2dParams& p) {
  return choose<T>(p) != Conv2dAlgorithm::direct && conv2d_wgrad_implicit_gemm_reads_channels_last_dy(p);
}

// The one-call planar backward for few input channels (conv2d_backward_direct_planar.cpp), and for
// which calls. Channels-last dy without dx goes to the channels-last kernels instead: they read dy
// in place where the planar path transposes it, and dw + db alone (a first layer in training)
// measured up to 1.8x faster there. With dx the one call wins (dy staged once for all three).
bool planar_backward(const Conv2dParams& p, bool wants_dx) {
  const bool channels_last_dy = p.y_strides[1] == 1 && p.y_strides[3] != 1;
  return conv2d_backward_direct_planar_applies(p) && (wants_dx || !channels_last_dy);
}

}  // namespace

bool conv2d_algorithm_supported(const Conv2dParams& p, Conv2dAlgorithm algorithm) {
  switch (algorithm) {
    case Conv2dAlgorithm::automatic:
    case Conv2dAlgorithm::implicit_gemm: return true;
    case Conv2dAlgorithm::winograd: return conv2d_winograd_applies(p);
    case Conv2dAlgorithm::direct: return conv2d_is_depthwise(p);
    default: return false;
  }
}

template <typename T>
void conv2d_fprop(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  check_conv2d_params(p);
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::winograd: conv2d_fprop_winograd(p, x, w, b, y); break;
    case Conv2dAlgorithm::direct: conv2d_fprop_depthwise(p, x, w, b, y); break;
    default: conv2d_fprop_implicit_gemm(p, x, w, b, y);
  }
}

template <typename T>
void conv2d_dgrad(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  check_conv2d_params(p);
  if (planar_backward(p, true) && p.algorithm != Conv2dAlgorithm::winograd)
    return conv2d_backward_direct_planar<T>(p, dy, nullptr, w, dx, p.x_strides, nullptr, nullptr, nullptr);
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::direct: conv2d_dgrad_depthwise(p, dy, w, dx); break;
    case Conv2dAlgorithm::winograd:
      if (dgrad_by_winograd(p)) {
        conv2d_dgrad_winograd(p, dy, w, dx);
        break;
      }
      conv2d_dgrad_implicit_gemm(p, dy, w, dx);
      break;
    default: conv2d_dgrad_implicit_gemm(p, dy, w, dx);
  }
}

template <typename T>
void conv2d_wgrad(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  check_conv2d_params(p);
  if (planar_backward(p, false))
    return conv2d_backward_direct_planar<T>(p, dy, x, nullptr, nullptr, nullptr, dw, p.w_strides, nullptr);
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::direct: conv2d_wgrad_depthwise(p, dy, x, dw); break;
    default: conv2d_wgrad_implicit_gemm(p, dy, x, dw);
  }
}

template <typename T>
bool conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, const int64_t* dx_strides,
                     T* dw, const int64_t* dw_strides, T* db) {
  check_conv2d_params(p);
  // Few input channels, unit strides: one staged copy of dy serves whichever gradients are asked
  // for (db alone too), with the same sums as when they come together.
  if (planar_backward(p, dx != nullptr)) {
    const bool dx_by_winograd = dx != nullptr && p.algorithm == Conv2dAlgorithm::winograd;
    if (dx_by_winograd) {
      Conv2dParams pd = p;
      for (int i = 0; i < 4; ++i) pd.x_strides[i] = dx_strides[i];
      conv2d_dgrad<T>(pd, dy, w, dx);
    }
    conv2d_backward_direct_planar(p, dy, x, w, dx_by_winograd ? nullptr : dx, dx_strides, dw, dw_strides, db);
    return true;
  }
  if (dx == nullptr && dw == nullptr) return false;
  if (choose<T>(p) == Conv2dAlgorithm::direct) {
    if (!conv2d_backward_depthwise_applies<T>(p, dx ? dx_strides : nullptr)) return false;
    conv2d_backward_depthwise(p, dy, x, w, dx, dx_strides, dw, dw_strides, db);
    return true;
  }
  // Planar dy that the forms of both gradients would each copy to channels-last (the seed model's
  // 13x13 layer: dgrad by col2im, wgrad by the planar indirect GEMM; strided 3x3 layers: dgrad by
  // forward passes, wgrad on channels-last copies) is copied once for both. db keeps its own pass
  // over planar dy: the same bits as when it is asked for alone.
  if (dx == nullptr || dw == nullptr || p.y_strides[1] == 1 || p.K == 0 || p.C == 0 || p.N * p.P * p.Q == 0 ||
      p.H * p.W == 0)
    return false;
  Conv2dParams pd = p, pw = p;
  for (int i = 0; i < 4; ++i) pd.x_strides[i] = dx_strides[i], pw.w_strides[i] = dw_strides[i];
  if (!dgrad_reads_channels_last_dy<T>(pd) || !wgrad_reads_channels_last_dy<T>(pw)) return false;
  const auto dyt = cpu::scratch<T>(p.N * p.K * p.P * p.Q);
  cpu::copy_to_channels_last(dy, p.N, p.K, p.P, p.Q, p.y_strides, dyt.get());
  cpu::channels_last_strides(p.K, p.P, p.Q, pd.y_strides);
  cpu::channels_last_strides(p.K, p.P, p.Q, pw.y_strides);
  conv2d_dgrad<T>(pd, dyt.get(), w, dx);
  conv2d_wgrad<T>(pw, dyt.get(), x, dw);
  if (db) conv2d_bgrad<T>(p, dy, db);
  return true;
}

template void conv2d_fprop<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop<double>(const Conv2dParams&, const double*, const double*, const double*, double*);
template void conv2d_dgrad<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad<double>(const Conv2dParams&, const double*, const double*, double*);
template void conv2d_wgrad<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad<double>(const Conv2dParams&, const double*, const double*, double*);
template bool conv2d_backward<float>(const Conv2dParams&, const float*, const float*, const float*, float*,
                                     const int64_t*, float*, const int64_t*, float*);
template bool conv2d_backward<double>(const Conv2dParams&, const double*, const double*, const double*, double*,
                                      const int64_t*, double*, const int64_t*, double*);

}  // namespace fastconv
