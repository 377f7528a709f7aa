// conv2d backward-weight with few input channels, on the planar direct kernels
// (ukernels/conv_direct_planar.h).
//   dy: (N, K, P, Q), Q contiguous (NCHW) or K contiguous (NHWC: copied to planar rows per unit)
//   x: (N, C, H, W) any strides, C <= 4   dw: (K, C, R, S)
// dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride_h - pad_h + r*dil_h, ...]
// Each tap (c, r, s) of an output row is a contiguous run of the column-phase buffer
// (conv2d_direct_planar.h), so dy's rows are reduced against those runs with the pixels in the
// vector lanes: 4 filters x 6 taps of accumulators per pass, no patch matrix.
//
// Determinism: the reduction is cut into units (image, block of output rows) and the units into
// parts, both fixed by the problem alone (never by the thread count). A task sums its part's units
// in order into the part's partial, and the parts are added in order at the end.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_direct_planar.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {

namespace {
constexpr int64_t kUnitPixels = 4096;  // output pixels per unit, at least one row
constexpr int64_t kMaxParts = 64;

// dyt[k * rows * Q + i * Q + q] = dy row i's value (q, k), for `rows` rows of channels-last dy
// (channels contiguous), in 16 x 16 blocks (a partial block moves back to end at the row's end).
template <typename T>
void copy_rows_to_planar(const Conv2dParams& p, const T* dy, int64_t rows, T* dyt) {
  constexpr int64_t kB = 16;
  const int64_t step = p.y_strides[3], plane = rows * p.Q;
  for (int64_t i = 0; i < rows; ++i) {
    const T* src = dy + i * p.y_strides[2];
    T* dst = dyt + i * p.Q;
    for (int64_t q0 = 0; q0 < p.Q; q0 += kB) {
      const int64_t qq = q0 + kB > p.Q && p.Q >= kB ? p.Q - kB : q0;
      for (int64_t k0 = 0; k0 < p.K; k0 += kB) {
        const int64_t kk = k0 + kB > p.K && p.K >= kB ? p.K - kB : k0;
        if (p.K >= kB && p.Q >= kB && cpu::transpose_16x16(src + qq * step + kk, step, dst + kk * plane + qq, plane))
          continue;
        for (int64_t q = qq; q < std::min(p.Q, qq + kB); ++q)
          for (int64_t k = kk; k < std::min(p.K, kk + kB); ++k) dst[k * plane + q] = src[q * step + k];
      }
    }
  }
}
}  // namespace

bool conv2d_wgrad_direct_planar_applies(const Conv2dParams& p) {
  // Channels-last dy only for filters with many taps (the 147 of a 7x7 RGB stem), through a
  // transpose per unit; the channels-last direct kernel keeps short filters.
  return p.groups == 1 && p.C >= 1 && p.C <= 4 && (p.y_strides[3] == 1 || (p.y_strides[1] == 1 && p.C * p.R * p.S > 27));
}

template <typename T>
void conv2d_wgrad_direct_planar(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  constexpr int64_t NB = cpu::kPlanarCols;
  const int64_t taps = p.C * p.R * p.S, k_blocks = cpu::ceil_div(p.K, NB);
  if (p.K == 0 || p.C == 0) return;
  const cpu::PhaseRows layout(p);
  const int64_t block_rows = std::clamp<int64_t>(kUnitPixels / std::max<int64_t>(p.Q, 1), 1, std::max<int64_t>(p.P, 1));
  const int64_t blocks = cpu::ceil_div(p.P, block_rows), units = p.N * blocks;
  const int64_t units_per_part = std::max<int64_t>(1, cpu::ceil_div(units, kMaxParts));
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(units, units_per_part));
  const int64_t max_rows = (block_rows - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
  const int64_t part_size = k_blocks * taps * NB;
  // partial[part][kb][(c, r, s)][4]
  const auto partial = cpu::scratch<T>(parts * part_size);
  const int64_t* ys = p.y_strides;
  const bool planar = ys[3] == 1;

  parallel_for(0, parts, 1, [&](int64_t lo, int64_t hi) {
    const auto buf = cpu::scratch<T>(p.C * max_rows * layout.row_len);
    const auto dyt = cpu::scratch<T>(planar ? 0 : p.K * block_rows * p.Q);
    std::vector<int64_t> x_at(static_cast<size_t>(taps));
    for (int64_t part = lo; part < hi; ++part) {
      T* acc = partial.get() + part * part_size;
      std::fill(acc, acc + part_size, T(0));
      for (int64_t unit = part * units_per_part; unit < std::min(units, (part + 1) * units_per_part); ++unit) {
        const int64_t n = unit / blocks, p0 = (unit % blocks) * block_rows, count = std::min(block_rows, p.P - p0);
        const int64_t rows = (count - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
        layout.load(p, x, n, p0 * p.stride_h, rows, buf.get());
        for (int64_t c = 0, t = 0; c < p.C; ++c)
          for (int64_t r = 0; r < p.R; ++r)
            for (int64_t s = 0; s < p.S; ++s, ++t) x_at[t] = cpu::phase_rows_tap(p, layout, rows, c, r, s);
        const T* dy_rows = dy + n * ys[0] + p0 * ys[2];
        int64_t dy_plane = ys[1], dy_row = ys[2];
        if (!planar) {
          copy_rows_to_planar(p, dy_rows, count, dyt.get());
          dy_rows = dyt.get(), dy_plane = count * p.Q, dy_row = p.Q;
        }
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          cpu::selected::conv_direct_planar_wgrad(count, p.Q, std::min(NB, p.K - kb * NB), taps, x_at.data(), buf.get(),
                                                  p.stride_h * layout.row_len, dy_rows + kb * NB * dy_plane, dy_plane,
                                                  dy_row, acc + kb * taps * NB);
      }
    }
  });

  for (int64_t k = 0; k < p.K; ++k) {
    const T* first = partial.get() + (k / NB) * taps * NB + k % NB;
    for (int64_t c = 0, t = 0; c < p.C; ++c)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s, ++t) {
          T total = first[t * NB];
          for (int64_t part = 1; part < parts; ++part) total += first[part * part_size + t * NB];
          dw[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]] = total;
        }
  }
}

template void conv2d_wgrad_direct_planar<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_direct_planar<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
