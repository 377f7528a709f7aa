// Routes gemm_tile to the selected ISA's kernel, chosen once per process.
#include "isa.h"
#include "ukernels/gemm.h"

namespace fastconv {
namespace cpu {

namespace {

template <typename T>
using GemmFn = void (*)(int64_t, int64_t, const T*, const T*, T*);

template <typename T>
struct GemmKernels {
  GemmFn<T> scalar_fn, avx2_fn, avx512_fn;
};

template <typename T>
GemmFn<T> choose(const GemmKernels<T>& k) {
  switch (selected_isa()) {
#ifdef FASTCONV_HAVE_AVX512
    case Isa::avx512: return k.avx512_fn;
#endif
#ifdef FASTCONV_HAVE_AVX2
    case Isa::avx2: return k.avx2_fn;
#endif
    default: return k.scalar_fn;
  }
}

#ifndef FASTCONV_HAVE_AVX2
#define FASTCONV_AVX2_OR_NULL(fn) nullptr
#else
#define FASTCONV_AVX2_OR_NULL(fn) avx2::fn
#endif
#ifndef FASTCONV_HAVE_AVX512
#define FASTCONV_AVX512_OR_NULL(fn) nullptr
#else
#define FASTCONV_AVX512_OR_NULL(fn) avx512::fn
#endif

}  // namespace

void gemm_tile(int64_t M, int64_t J, const float* A, const float* B, float* C) {
  static const GemmFn<float> fn = choose<float>(
      {scalar::gemm_f32_6x64, FASTCONV_AVX2_OR_NULL(gemm_f32_6x64), FASTCONV_AVX512_OR_NULL(gemm_f32_6x64)});
  fn(M, J, A, B, C);
}

void gemm_tile(int64_t M, int64_t J, const double* A, const double* B, double* C) {
  static const GemmFn<double> fn = choose<double>(
      {scalar::gemm_f64_6x64, FASTCONV_AVX2_OR_NULL(gemm_f64_6x64), FASTCONV_AVX512_OR_NULL(gemm_f64_6x64)});
  fn(M, J, A, B, C);
}

}  // namespace cpu
}  // namespace fastconv
