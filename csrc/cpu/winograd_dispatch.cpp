// Routes the Winograd tile transforms to the selected ISA's code, chosen once per process.
#include "isa.h"
#include "ukernels/winograd.h"

namespace fastconv {
namespace cpu {

namespace {
template <typename T>
using InputFn = void (*)(const T*, const PlaneView&, const WinogradTiles&, T*, int64_t);
template <typename T>
using OutputFn = void (*)(const T*, int64_t, T*);
}  // namespace

void winograd_f4x3_input_tiles(const float* plane, const PlaneView& v, const WinogradTiles& t, float* V,
                               int64_t v_stride) {
  static const InputFn<float> fn = FASTCONV_PICK_FOR_ISA(InputFn<float>, winograd_f4x3_input_tiles);
  fn(plane, v, t, V, v_stride);
}

void winograd_f4x3_input_tiles(const double* plane, const PlaneView& v, const WinogradTiles& t, double* V,
                               int64_t v_stride) {
  static const InputFn<double> fn = FASTCONV_PICK_FOR_ISA(InputFn<double>, winograd_f4x3_input_tiles);
  fn(plane, v, t, V, v_stride);
}

void winograd_f4x3_output_tiles(const float* M, int64_t m_stride, float* o) {
  static const OutputFn<float> fn = FASTCONV_PICK_FOR_ISA(OutputFn<float>, winograd_f4x3_output_tiles);
  fn(M, m_stride, o);
}

void winograd_f4x3_output_tiles(const double* M, int64_t m_stride, double* o) {
  static const OutputFn<double> fn = FASTCONV_PICK_FOR_ISA(OutputFn<double>, winograd_f4x3_output_tiles);
  fn(M, m_stride, o);
}

}  // namespace cpu
}  // namespace fastconv
