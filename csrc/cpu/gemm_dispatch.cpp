// Routes gemm_tile, gemm_tile_acc, gemm_rows_acc, gemm_nt, igemm_6x64, igemm_6x64_rows and igemm_6x64_add to the selected ISA's kernels, chosen once per process.
#include "isa.h"
#include "ukernels/gemm.h"
#include "ukernels/gemm_rows.h"
#include "ukernels/gemm_nt.h"
#include "ukernels/igemm.h"

namespace fastconv {
namespace cpu {

namespace {
template <typename T>
using GemmFn = void (*)(int64_t, int64_t, const T*, const T*, int64_t, T*, int64_t);
template <typename T>
using GemmRowsFn = void (*)(int64_t, int64_t, const T* const*, const T* const*, T*, int64_t);
template <typename T>
using GemmNtFn = void (*)(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t);
template <typename T>
using IgemmFn = void (*)(int64_t, int64_t, int64_t, int64_t, const T* const*, const T*, T*, int64_t, const T* const*);
template <typename T>
using IgemmRowsFn =
    void (*)(int64_t, int64_t, int64_t, int64_t, const T* const*, const T*, T* const*, const T*, const T* const*, bool);
template <typename T>
using IgemmAddFn = void (*)(int64_t, int64_t, int64_t, const T* const*, const T*, T* const*);
}  // namespace

void gemm_tile(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  static const GemmFn<float> fn = FASTCONV_PICK_FOR_ISA(GemmFn<float>, gemm_f32_6x64);
  fn(M, J, A, B, ldb, C, ldc);
}

void gemm_tile(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc) {
  static const GemmFn<double> fn = FASTCONV_PICK_FOR_ISA(GemmFn<double>, gemm_f64_6x64);
  fn(M, J, A, B, ldb, C, ldc);
}

void gemm_tile_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc) {
  static const GemmFn<float> fn = FASTCONV_PICK_FOR_ISA(GemmFn<float>, gemm_f32_6x64_acc);
  fn(M, J, A, B, ldb, C, ldc);
}

void gemm_tile_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc) {
  static const GemmFn<double> fn = FASTCONV_PICK_FOR_ISA(GemmFn<double>, gemm_f64_6x64_acc);
  fn(M, J, A, B, ldb, C, ldc);
}

void gemm_rows_acc(int64_t M, int64_t J, const float* const* a, const float* const* b, float* C, int64_t ldc) {
  static const GemmRowsFn<float> fn = FASTCONV_PICK_FOR_ISA(GemmRowsFn<float>, gemm_rows_6x64_acc);
  fn(M, J, a, b, C, ldc);
}

void gemm_rows_acc(int64_t M, int64_t J, const double* const* a, const double* const* b, double* C, int64_t ldc) {
  static const GemmRowsFn<double> fn = FASTCONV_PICK_FOR_ISA(GemmRowsFn<double>, gemm_rows_6x64_acc);
  fn(M, J, a, b, C, ldc);
}

void gemm_nt(int64_t M, int64_t N, int64_t T, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc) {
  static const GemmNtFn<float> fn = FASTCONV_PICK_FOR_ISA(GemmNtFn<float>, gemm_nt);
  fn(M, N, T, A, lda, B, ldb, C, ldc);
}

void gemm_nt(int64_t M, int64_t N, int64_t T, const double* A, int64_t lda, const double* B, int64_t ldb, double* C,
             int64_t ldc) {
  static const GemmNtFn<double> fn = FASTCONV_PICK_FOR_ISA(GemmNtFn<double>, gemm_nt);
  fn(M, N, T, A, lda, B, ldb, C, ldc);
}

void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                float* C, int64_t ldc, const float* const* a_next) {
  static const IgemmFn<float> fn = FASTCONV_PICK_FOR_ISA(IgemmFn<float>, igemm_6x64);
  fn(rows, cols, taps, Cg, a, B, C, ldc, a_next);
}

void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a, const double* B,
                double* C, int64_t ldc, const double* const* a_next) {
  static const IgemmFn<double> fn = FASTCONV_PICK_FOR_ISA(IgemmFn<double>, igemm_6x64);
  fn(rows, cols, taps, Cg, a, B, C, ldc, a_next);
}

void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                     float* const* out, const float* bias, const float* const* a_next, bool stream) {
  static const IgemmRowsFn<float> fn = FASTCONV_PICK_FOR_ISA(IgemmRowsFn<float>, igemm_6x64_rows);
  fn(rows, cols, taps, Cg, a, B, out, bias, a_next, stream);
}

void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a, const double* B,
                     double* const* out, const double* bias, const double* const* a_next, bool stream) {
  static const IgemmRowsFn<double> fn = FASTCONV_PICK_FOR_ISA(IgemmRowsFn<double>, igemm_6x64_rows);
  fn(rows, cols, taps, Cg, a, B, out, bias, a_next, stream);
}

void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const float* const* a, const float* B, float* const* out) {
  static const IgemmAddFn<float> fn = FASTCONV_PICK_FOR_ISA(IgemmAddFn<float>, igemm_6x64_add);
  fn(rows, cols, Cg, a, B, out);
}

void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const double* const* a, const double* B,
                    double* const* out) {
  static const IgemmAddFn<double> fn = FASTCONV_PICK_FOR_ISA(IgemmAddFn<double>, igemm_6x64_add);
  fn(rows, cols, Cg, a, B, out);
}

}  // namespace cpu
}  // namespace fastconv
