// Routes the direct convolution kernels (ukernels/conv_direct.h) to the selected ISA's, chosen once per
// process.
#include "isa.h"
#include "ukernels/conv_direct.h"

namespace fastconv {
namespace cpu {
namespace selected {

namespace {
template <typename T>
using FpropFn = void (*)(int64_t, int64_t, int64_t, const int64_t*, const T*, int64_t, const T*, const T*, T*, int64_t);
template <typename T>
using WgradFn = void (*)(int64_t, int64_t, int64_t, int64_t, const int64_t*, const T*, int64_t, int64_t, const T*,
                         int64_t, int64_t, T*);

template <typename T>
FpropFn<T> fprop_fn() {
  static const FpropFn<T> fn = FASTCONV_PICK_FOR_ISA(FpropFn<T>, conv_direct_fprop);
  return fn;
}
template <typename T>
WgradFn<T> wgrad_fn() {
  static const WgradFn<T> fn = FASTCONV_PICK_FOR_ISA(WgradFn<T>, conv_direct_wgrad);
  return fn;
}
}  // namespace

void conv_direct_fprop(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_step, const float* wp, const float* bias, float* y, int64_t y_step) {
  fprop_fn<float>()(count, cols, taps, x_at, x, x_step, wp, bias, y, y_step);
}
void conv_direct_fprop(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const double* x,
                       int64_t x_step, const double* wp, const double* bias, double* y, int64_t y_step) {
  fprop_fn<double>()(count, cols, taps, x_at, x, x_step, wp, bias, y, y_step);
}
void conv_direct_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                       int64_t x_row, int64_t x_step, const float* dy, int64_t dy_row, int64_t dy_step, float* dw) {
  wgrad_fn<float>()(rows, count, cols, taps, x_at, x, x_row, x_step, dy, dy_row, dy_step, dw);
}
void conv_direct_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const double* x,
                       int64_t x_row, int64_t x_step, const double* dy, int64_t dy_row, int64_t dy_step, double* dw) {
  wgrad_fn<double>()(rows, count, cols, taps, x_at, x, x_row, x_step, dy, dy_row, dy_step, dw);
}

}  // namespace selected
}  // namespace cpu
}  // namespace fastconv
