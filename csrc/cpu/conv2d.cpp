// conv2d entry points: check the problem once, then pick an algorithm (conv2d_algorithms.h).
#include <stdexcept>
#include <type_traits>

#include "conv2d_algorithms.h"

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
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::direct: conv2d_dgrad_depthwise(p, dy, w, dx); break;
    case Conv2dAlgorithm::winograd:
      // Padding above 2 leaves no Winograd form of the gradient: the implicit GEMM computes it.
      // Left to choose, small images take the col2im form, which measured faster than Winograd's
      // dgrad there (its 4x4 tiles overhang an 11x11 or 13x13 image by a third).
      if (conv2d_dgrad_winograd_applies(p) &&
          !(p.algorithm == Conv2dAlgorithm::automatic && conv2d_dgrad_col2im_channels_last_applies(p))) {
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
  switch (choose<T>(p)) {
    case Conv2dAlgorithm::direct: conv2d_wgrad_depthwise(p, dy, x, dw); break;
    default: conv2d_wgrad_implicit_gemm(p, dy, x, dw);
  }
}

template <typename T>
bool conv2d_backward(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, const int64_t* dx_strides,
                     T* dw, const int64_t* dw_strides, T* db) {
  check_conv2d_params(p);
  if ((dx == nullptr && dw == nullptr) || choose<T>(p) != Conv2dAlgorithm::direct ||
      !conv2d_backward_depthwise_applies<T>(p, dx ? dx_strides : nullptr))
    return false;
  conv2d_backward_depthwise(p, dy, x, w, dx, dx_strides, dw, dw_strides, db);
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
