// Routes gemm_tile, gemm_nt and igemm_6x64 to the selected ISA's kernels, chosen once per process.
#include "isa.h"
#include "ukernels/gemm.h"
#include "ukernels/gemm_nt.h"
#include "ukernels/igemm.h"

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

namespace {

template <typename T>
using GemmNtFn = void (*)(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t);

template <typename T>
GemmNtFn<T> choose_nt() {
  switch (selected_isa()) {
#ifdef FASTCONV_HAVE_AVX512
    case Isa::avx512: return static_cast<GemmNtFn<T>>(avx512::gemm_nt);
#endif
#ifdef FASTCONV_HAVE_AVX2
    case Isa::avx2: return static_cast<GemmNtFn<T>>(avx2::gemm_nt);
#endif
    default: return static_cast<GemmNtFn<T>>(scalar::gemm_nt);
  }
}

}  // namespace

void gemm_nt(int64_t M, int64_t N, int64_t T, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc) {
  static const GemmNtFn<float> fn = choose_nt<float>();
  fn(M, N, T, A, lda, B, ldb, C, ldc);
}

void gemm_nt(int64_t M, int64_t N, int64_t T, const double* A, int64_t lda, const double* B, int64_t ldb, double* C,
             int64_t ldc) {
  static const GemmNtFn<double> fn = choose_nt<double>();
  fn(M, N, T, A, lda, B, ldb, C, ldc);
}

namespace {

template <typename T>
using IgemmFn = void (*)(int64_t, int64_t, int64_t, int64_t, const T* const*, const T*, T*, int64_t);

template <typename T>
IgemmFn<T> choose_igemm() {
  switch (selected_isa()) {
#ifdef FASTCONV_HAVE_AVX512
    case Isa::avx512: return static_cast<IgemmFn<T>>(avx512::igemm_6x64);
#endif
#ifdef FASTCONV_HAVE_AVX2
    case Isa::avx2: return static_cast<IgemmFn<T>>(avx2::igemm_6x64);
#endif
    default: return static_cast<IgemmFn<T>>(scalar::igemm_6x64);
  }
}

}  // namespace

void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                float* C, int64_t ldc) {
  static const IgemmFn<float> fn = choose_igemm<float>();
  fn(rows, cols, taps, Cg, a, B, C, ldc);
}

void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a, const double* B,
                double* C, int64_t ldc) {
  static const IgemmFn<double> fn = choose_igemm<double>();
  fn(rows, cols, taps, Cg, a, B, C, ldc);
}

}  // namespace cpu
}  // namespace fastconv
