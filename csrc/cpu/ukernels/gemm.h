// The tile GEMM behind the conv2d passes, per ISA.
//
//   C[m * ldc + t] = sum_j A[m][j] * B[j * ldb + t]      m < M, t < kTilePixels
//   A: packed in panels of kPanelRows rows, A[(m / 6) * J * 6 + j * 6 + m % 6], the last panel
//      zero-filled (pack_panels below); B: J rows of kTilePixels values, ldb apart; C: M rows of
//      kTilePixels values, ldc apart.
// Each C element is summed over j = 0, 1, ... in order, so results do not depend on threads or on
// how a pass is blocked; they may differ between ISAs (fused multiply-add rounds once).
#pragma once

#include <cstdint>
#include <type_traits>

namespace fastconv {
namespace cpu {

constexpr int64_t kTilePixels = 64;
constexpr int64_t kPanelRows = 6;

inline int64_t panel_count(int64_t M) { return (M + kPanelRows - 1) / kPanelRows; }

// Packs rows m < M, columns j < J of a matrix given by get(m, j) into panels (see above).
template <typename T, typename Get>
void pack_panels(int64_t M, int64_t J, Get get, T* dst) {
  for (int64_t panel = 0; panel < panel_count(M); ++panel)
    for (int64_t j = 0; j < J; ++j)
      for (int64_t i = 0; i < kPanelRows; ++i) {
        const int64_t m = panel * kPanelRows + i;
        dst[(panel * J + j) * kPanelRows + i] = m < M ? get(m, j) : T(0);
      }
}

// Calls panel(rows, a, c) for each GEMM panel of A (see above) and its C rows, with rows a
// std::integral_constant<int, r> holding the panel's row count (6, or fewer for the last), so that
// ISA kernels templated on it keep their accumulators in registers.
template <typename T, typename Panel>
inline void for_each_panel(int64_t M, int64_t J, const T* A, T* C, int64_t ldc, Panel&& panel) {
  for (int64_t m0 = 0; m0 < M; m0 += kPanelRows) {
    const T* a = A + (m0 / kPanelRows) * J * kPanelRows;
    T* c = C + m0 * ldc;
    switch (M - m0 < kPanelRows ? M - m0 : kPanelRows) {
      case 6: panel(std::integral_constant<int, 6>{}, a, c); break;
      case 5: panel(std::integral_constant<int, 5>{}, a, c); break;
      case 4: panel(std::integral_constant<int, 4>{}, a, c); break;
      case 3: panel(std::integral_constant<int, 3>{}, a, c); break;
      case 2: panel(std::integral_constant<int, 2>{}, a, c); break;
      default: panel(std::integral_constant<int, 1>{}, a, c); break;
    }
  }
}

namespace scalar {
void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
void gemm_f32_6x64_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
}  // namespace scalar
namespace avx2 {
void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
void gemm_f32_6x64_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
}  // namespace avx2
namespace avx512 {
void gemm_f32_6x64(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
void gemm_f32_6x64_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_f64_6x64_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
}  // namespace avx512

// The selected ISA's kernel (isa.h).
void gemm_tile(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_tile(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
// C[m * ldc + t] += the same sums: each starts from C's value and adds j = 0, 1, ... in order, so a
// reduction split into fixed chunks accumulates in place without a staging tile.
void gemm_tile_acc(int64_t M, int64_t J, const float* A, const float* B, int64_t ldb, float* C, int64_t ldc);
void gemm_tile_acc(int64_t M, int64_t J, const double* A, const double* B, int64_t ldb, double* C, int64_t ldc);
// Contiguous B and C rows (ldb = ldc = kTilePixels).
template <typename T>
inline void gemm_tile(int64_t M, int64_t J, const T* A, const T* B, T* C) {
  gemm_tile(M, J, A, B, kTilePixels, C, kTilePixels);
}

}  // namespace cpu
}  // namespace fastconv
