// Routes the Winograd tile transforms to the selected ISA's code, chosen once per process.
#include "isa.h"
#include "ukernels/winograd.h"

namespace fastconv {
namespace cpu {

namespace {

template <typename Fn>
Fn pick(Fn scalar_fn, Fn avx2_fn, Fn avx512_fn) {
  switch (selected_isa()) {
    case Isa::avx512: return avx512_fn ? avx512_fn : scalar_fn;
    case Isa::avx2: return avx2_fn ? avx2_fn : scalar_fn;
    default: return scalar_fn;
  }
}

template <typename T>
using InputFn = void (*)(const T*, const PlaneView&, const WinogradTiles&, T*, int64_t);
template <typename T>
using OutputFn = void (*)(const T*, int64_t, T*);

#ifdef FASTCONV_HAVE_AVX2
#define FASTCONV_AVX2(T, fn) static_cast<T>(avx2::fn)
#else
#define FASTCONV_AVX2(T, fn) static_cast<T>(nullptr)
#endif
#ifdef FASTCONV_HAVE_AVX512
#define FASTCONV_AVX512(T, fn) static_cast<T>(avx512::fn)
#else
#define FASTCONV_AVX512(T, fn) static_cast<T>(nullptr)
#endif

template <typename T>
InputFn<T> input_fn() {
  static const InputFn<T> fn =
      pick(static_cast<InputFn<T>>(scalar::winograd_f4x3_input_tiles),
           FASTCONV_AVX2(InputFn<T>, winograd_f4x3_input_tiles), FASTCONV_AVX512(InputFn<T>, winograd_f4x3_input_tiles));
  return fn;
}

template <typename T>
OutputFn<T> output_fn() {
  static const OutputFn<T> fn =
      pick(static_cast<OutputFn<T>>(scalar::winograd_f4x3_output_tiles),
           FASTCONV_AVX2(OutputFn<T>, winograd_f4x3_output_tiles), FASTCONV_AVX512(OutputFn<T>, winograd_f4x3_output_tiles));
  return fn;
}

}  // namespace

void winograd_f4x3_input_tiles(const float* plane, const PlaneView& v, const WinogradTiles& t, float* V,
                               int64_t v_stride) {
  input_fn<float>()(plane, v, t, V, v_stride);
}
void winograd_f4x3_input_tiles(const double* plane, const PlaneView& v, const WinogradTiles& t, double* V,
                               int64_t v_stride) {
  input_fn<double>()(plane, v, t, V, v_stride);
}
void winograd_f4x3_output_tiles(const float* M, int64_t m_stride, float* o) { output_fn<float>()(M, m_stride, o); }
void winograd_f4x3_output_tiles(const double* M, int64_t m_stride, double* o) { output_fn<double>()(M, m_stride, o); }

}  // namespace cpu
}  // namespace fastconv
