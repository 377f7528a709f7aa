// Routes the planar direct convolution kernels (ukernels/conv_direct_planar.h) to the selected ISA's,
// chosen once per process.
#include "isa.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {
namespace cpu {
namespace selected {

namespace {
template <typename T>
using PlanarFn = void (*)(int64_t, int64_t, int64_t, const int64_t*, const T*, const T*, const T*, T*, int64_t);

template <typename T>
using WgradFn = void (*)(int64_t, int64_t, int64_t, int64_t, const int64_t*, const T*, int64_t, const T*, int64_t,
                         int64_t, T*);

template <typename T>
PlanarFn<T> planar_fn() {
  static const PlanarFn<T> fn = FASTCONV_PICK_FOR_ISA(PlanarFn<T>, conv_direct_planar);
  return fn;
}
template <typename T>
WgradFn<T> wgrad_fn() {
  static const WgradFn<T> fn = FASTCONV_PICK_FOR_ISA(WgradFn<T>, conv_direct_planar_wgrad);
  return fn;
}
template <typename T>
using StageFn = void (*)(int64_t, int64_t, int64_t, const T*, int64_t, T*);

template <typename T>
StageFn<T> stage_fn() {
  static const StageFn<T> fn = FASTCONV_PICK_FOR_ISA(StageFn<T>, conv_direct_planar_stage);
  return fn;
}
}  // namespace

void conv_direct_planar_stage(int64_t rows, int64_t cols, int64_t lead, const float* src, int64_t src_row,
                              float* dst) {
  stage_fn<float>()(rows, cols, lead, src, src_row, dst);
}
void conv_direct_planar_stage(int64_t rows, int64_t cols, int64_t lead, const double* src, int64_t src_row,
                              double* dst) {
  stage_fn<double>()(rows, cols, lead, src, src_row, dst);
}

void conv_direct_planar(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const float* x,
                        const float* wp, const float* bias, float* y, int64_t y_plane) {
  planar_fn<float>()(count, cols, taps, x_at, x, wp, bias, y, y_plane);
}
void conv_direct_planar(int64_t count, int64_t cols, int64_t taps, const int64_t* x_at, const double* x,
                        const double* wp, const double* bias, double* y, int64_t y_plane) {
  planar_fn<double>()(count, cols, taps, x_at, x, wp, bias, y, y_plane);
}

void conv_direct_planar_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at,
                              const float* x, int64_t x_row, const float* dy, int64_t dy_plane, int64_t dy_row,
                              float* dw) {
  wgrad_fn<float>()(rows, count, cols, taps, x_at, x, x_row, dy, dy_plane, dy_row, dw);
}
void conv_direct_planar_wgrad(int64_t rows, int64_t count, int64_t cols, int64_t taps, const int64_t* x_at,
                              const double* x, int64_t x_row, const double* dy, int64_t dy_plane, int64_t dy_row,
                              double* dw) {
  wgrad_fn<double>()(rows, count, cols, taps, x_at, x, x_row, dy, dy_plane, dy_row, dw);
}

}  // namespace selected
}  // namespace cpu
}  // namespace fastconv
