// Packing and threading around the tile GEMM for linear (linear_gemm.h). Work items are
// (row block, 64-column tile) pairs; each writes its own part of C, so threads never share outputs.
#include "linear_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "ukernels/gemm.h"

namespace fastconv {
namespace cpu {

namespace {

constexpr int64_t kBlockPanels = 4;          // rows per work item: 4 panels of 6
// Below this one thread is faster: a second core must first pull the packed operands into its own
// caches (32x576x64, 2.4 MFLOP: 43 us on one thread, 115 us on two).
constexpr int64_t kSerialFlops = 1 << 22;

int64_t grain_for(int64_t items, int64_t flops) { return flops < kSerialFlops ? std::max<int64_t>(items, 1) : 1; }

}  // namespace

template <typename T>
void linear_gemm(int64_t M, int64_t J, int64_t Nc, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc) {
  if (M <= 0 || Nc <= 0) return;
  if (J == 0) {
    for (int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + Nc, T(0));
    return;
  }
  const int64_t flops = 2 * M * J * Nc;
  const int64_t panels = panel_count(M);
  std::vector<T> a_packed(static_cast<size_t>(panels * J * kPanelRows));
  parallel_for(0, panels, grain_for(panels, flops), [&](int64_t lo, int64_t hi) {
    for (int64_t panel = lo; panel < hi; ++panel) {
      T* dst = a_packed.data() + panel * J * kPanelRows;
      const int64_t m0 = panel * kPanelRows;
      const int64_t rows = std::min(kPanelRows, M - m0);
      if (rows == kPanelRows && A.cs == 1) {
        // Row-major A (the input x): six contiguous rows interleaved, unit strides known to the compiler.
        const T* r[kPanelRows];
        for (int64_t i = 0; i < kPanelRows; ++i) r[i] = A.data + (m0 + i) * A.rs;
        for (int64_t j = 0; j < J; ++j)
          for (int64_t i = 0; i < kPanelRows; ++i) dst[j * kPanelRows + i] = r[i][j];
        continue;
      }
      for (int64_t j = 0; j < J; ++j) {
        for (int64_t i = 0; i < rows; ++i) dst[j * kPanelRows + i] = A(m0 + i, j);
        for (int64_t i = rows; i < kPanelRows; ++i) dst[j * kPanelRows + i] = T(0);
      }
    }
  });

  // B in place when its rows are contiguous; else (or for a partial last tile) a packed copy with
  // rows of `ldb` values, zero-padded to whole tiles.
  const int64_t tiles = (Nc + kTilePixels - 1) / kTilePixels;
  const bool b_in_place = B.cs == 1;
  const int64_t first_packed_tile = b_in_place ? Nc / kTilePixels : 0;
  const int64_t packed_cols = (tiles - first_packed_tile) * kTilePixels;
  std::vector<T> b_packed(static_cast<size_t>(J * packed_cols));
  if (packed_cols) {
    const int64_t n0 = first_packed_tile * kTilePixels;
    // Column-major B (a transposed weight view) is read down its columns, kJBlock rows at a time, so
    // that reads are contiguous and the writes go to kJBlock rows that stay in cache.
    constexpr int64_t kJBlock = 16;
    const bool column_major = std::abs(B.rs) < std::abs(B.cs);
    const int64_t j_blocks = (J + kJBlock - 1) / kJBlock;
    parallel_for(0, j_blocks, grain_for(j_blocks, flops), [&](int64_t lo, int64_t hi) {
      for (int64_t jb = lo; jb < hi; ++jb) {
        const int64_t j0 = jb * kJBlock, j1 = std::min(J, j0 + kJBlock);
        if (column_major) {
          for (int64_t n = n0; n < Nc; ++n) {
            const T* col = B.data + n * B.cs;
            for (int64_t j = j0; j < j1; ++j) b_packed[j * packed_cols + (n - n0)] = col[j * B.rs];
          }
        } else {
          for (int64_t j = j0; j < j1; ++j)
            for (int64_t n = n0; n < Nc; ++n) b_packed[j * packed_cols + (n - n0)] = B(j, n);
        }
        for (int64_t j = j0; j < j1; ++j)
          std::fill(b_packed.data() + j * packed_cols + (Nc - n0), b_packed.data() + (j + 1) * packed_cols, T(0));
      }
    });
  }

  const int64_t row_blocks = (panels + kBlockPanels - 1) / kBlockPanels;
  const int64_t items = row_blocks * tiles;
  parallel_for(0, items, grain_for(items, flops), [&](int64_t lo, int64_t hi) {
    T partial[kBlockPanels * kPanelRows * kTilePixels];
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t tile = item % tiles, block = item / tiles;
      const int64_t m0 = block * kBlockPanels * kPanelRows;
      const int64_t rows = std::min(kBlockPanels * kPanelRows, M - m0);
      const int64_t n0 = tile * kTilePixels;
      const T* a = a_packed.data() + (m0 / kPanelRows) * J * kPanelRows;
      const T* b;
      int64_t ldb;
      if (tile < first_packed_tile) {
        b = B.data + n0, ldb = B.rs;
      } else {
        b = b_packed.data() + (n0 - first_packed_tile * kTilePixels), ldb = packed_cols;
      }
      const int64_t cols = std::min(kTilePixels, Nc - n0);
      if (cols == kTilePixels) {
        gemm_tile(rows, J, a, b, ldb, C + m0 * ldc + n0, ldc);
      } else {
        gemm_tile(rows, J, a, b, ldb, partial, kTilePixels);
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(C + (m0 + i) * ldc + n0, partial + i * kTilePixels, sizeof(T) * cols);
      }
    }
  });
}

template void linear_gemm<float>(int64_t, int64_t, int64_t, MatrixView<float>, MatrixView<float>, float*, int64_t);
template void linear_gemm<double>(int64_t, int64_t, int64_t, MatrixView<double>, MatrixView<double>, double*,
                                  int64_t);

}  // namespace cpu
}  // namespace fastconv
