// conv2d backward-data of a 1x1 convolution without padding on planar dy and dx (NCHW): one GEMM per
// image, on dy where it lies.
//   dy: (N, K, P, Q)   w: (K, C/G, 1, 1)   dx: (N, C, H, W)
// The input pixels the stride reaches, (C/G x PQ) per group, are w^T (C/G x K/G) times dy[n]
// (K/G x PQ); every other input pixel is zero. A task owns a band of output rows [p0, p1) of one
// image and group, and so the input rows [p0 * stride_h, p1 * stride_h), a contiguous span of each
// dx plane:
//  - unit stride: per tile of 64 pixels, dy's tile (K/G rows of 64) is copied to 16 KB in L1 and the
//    row-pointer kernel (ukernels/igemm.h) stores the C/G result rows straight into dx's planes,
//    with non-temporal stores when dx is large (dx is written once, never read back here);
//  - stride > 1: the tile GEMM (ukernels/gemm.h) reads dy's rows in place into a band buffer, and
//    each channel's span of dx is assembled in L1 (the values at multiples of the strides, zeros
//    between and in the rows below) and stored in one sequential pass, so that the zeros (3/4 of dx
//    at stride 2) go out as streamed lines rather than as a second, scattered fill.
// Every dx element is written by one task, each sum over k in order: deterministic.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t TP = cpu::kTilePixels;
constexpr int64_t kBandPixels = 512;  // most output pixels of a strided band: its buffer stays in L2

// Output rows per band: a whole number of tiles where the row length allows one in at most
// kBandPixels (Q = 28: 16 rows, 7 tiles), else as many rows as fit (at least one).
int64_t band_rows(int64_t P, int64_t Q) {
  const int64_t whole_tiles = TP / std::gcd(Q, TP);
  const int64_t rows = whole_tiles * Q <= kBandPixels ? whole_tiles : std::max<int64_t>(1, kBandPixels / Q);
  return std::min(rows, P);
}
}  // namespace

bool conv2d_dgrad_1x1_planar_applies(const Conv2dParams& p) {
  return p.R == 1 && p.S == 1 && p.pad_h == 0 && p.pad_w == 0 && p.y_strides[3] == 1 && p.y_strides[2] == p.Q &&
         p.x_strides[3] == 1 && p.x_strides[2] == p.W && p.P * p.Q >= TP && p.C_per_group() >= cpu::kPanelRows;
}

template <typename T>
void conv2d_dgrad_1x1_planar(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t sh = p.stride_h, sw = p.stride_w;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  const bool unit_stride = sh == 1 && sw == 1;
  const bool stream = cpu::stream_output(p.N * p.C * p.H * p.W * static_cast<int64_t>(sizeof(T)));

  // Unit stride: rows c of w^T, contiguous over k (the row-pointer kernel's A). Strided: per group,
  // w^T in GEMM panels.
  const int64_t panel_size = cpu::panel_count(Cg) * cpu::kPanelRows * Kg;
  std::vector<T> wt(static_cast<size_t>(unit_stride ? p.C * Kg : G * panel_size));
  for (int64_t g = 0; g < G; ++g) {
    const T* wg = w + g * Kg * p.w_strides[0];
    const auto at = [&](int64_t c, int64_t k) { return wg[k * p.w_strides[0] + c * p.w_strides[1]]; };
    if (unit_stride) {
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t k = 0; k < Kg; ++k) wt[(g * Cg + c) * Kg + k] = at(c, k);
    } else {
      cpu::pack_panels<T>(Cg, Kg, at, wt.data() + g * panel_size);
    }
  }

  const int64_t rows_per_band = band_rows(p.P, p.Q), bands = cpu::ceil_div(p.P, rows_per_band);
  const int64_t band_width = cpu::ceil_div(rows_per_band * p.Q, TP) * TP;
  parallel_for(0, p.N * G * bands, 1, [&](int64_t lo, int64_t hi) {
    const auto tile = cpu::scratch<T>(Kg * TP);
    const auto band = cpu::scratch<T>(unit_stride ? cpu::kIgemmRows * TP : Cg * band_width);
    const auto span = cpu::scratch<T>(unit_stride ? 1 : rows_per_band * sh * p.W);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t b = task % bands, g = (task / bands) % G, n = task / (bands * G);
      const int64_t p0 = b * rows_per_band, p1 = std::min(p.P, p0 + rows_per_band);
      const int64_t pix0 = p0 * p.Q, pixels = (p1 - p0) * p.Q;
      const T* dyg = dy + n * ys[0] + g * Kg * ys[1];
      T* dxg = dx + n * xs[0] + g * Cg * xs[1];
      // dy's tile of pixels [t0, t0 + TP) of the band, zeros past its end, as K/G rows of TP.
      const auto stage_tile = [&](int64_t t0) {
        const int64_t count = std::min(TP, pixels - t0);
        for (int64_t k = 0; k < Kg; ++k) {
          const T* src = dyg + k * ys[1] + pix0 + t0;
          T* row = tile.get() + k * TP;
          std::copy(src, src + count, row);
          std::fill(row + count, row + TP, T(0));
        }
      };
      if (unit_stride) {
        const T* arow[cpu::kIgemmRows];
        T* out[cpu::kIgemmRows];
        for (int64_t t0 = 0; t0 < pixels; t0 += TP) {
          const int64_t count = std::min(TP, pixels - t0);
          stage_tile(t0);
          for (int64_t c0 = 0; c0 < Cg; c0 += cpu::kIgemmRows) {
            const int64_t rows = std::min(cpu::kIgemmRows, Cg - c0);
            for (int64_t i = 0; i < cpu::kIgemmRows; ++i) {
              const int64_t c = c0 + std::min(i, rows - 1);
              arow[i] = wt.data() + (g * Cg + c) * Kg;
              out[i] = count == TP ? dxg + c * xs[1] + pix0 + t0 : band.get() + i * TP;
            }
            cpu::igemm_6x64_rows(rows, TP, 1, Kg, arow, tile.get(), out, nullptr, nullptr, stream && count == TP);
            if (count < TP)  // the image's last, partial tile went to a buffer
              for (int64_t i = 0; i < rows; ++i) std::copy(out[i], out[i] + count, dxg + (c0 + i) * xs[1] + pix0 + t0);
          }
        }
        cpu::store_fence();
        continue;
      }
      // Strided: the band's GEMM results, C/G rows of band_width.
      const T* a = wt.data() + g * panel_size;
      for (int64_t t0 = 0; t0 < pixels; t0 += TP) {
        if (t0 + TP <= pixels) {
          cpu::gemm_tile(Cg, Kg, a, dyg + pix0 + t0, ys[1], band.get() + t0, band_width);
        } else {
          stage_tile(t0);
          cpu::gemm_tile(Cg, Kg, a, tile.get(), TP, band.get() + t0, band_width);
        }
      }
      // Each channel's span of dx: input rows [p0 * sh, min(H, p1 * sh)). The zeros are the same
      // for every channel: written once, the values overwrite their places.
      const int64_t h0 = p0 * sh, h1 = std::min(p.H, p1 * sh), span_len = (h1 - h0) * p.W;
      std::fill(span.get(), span.get() + span_len, T(0));
      for (int64_t c = 0; c < Cg; ++c) {
        const T* values = band.get() + c * band_width;
        for (int64_t oh = 0; oh < p1 - p0; ++oh) {
          T* row = span.get() + oh * sh * p.W;
          const T* v = values + oh * p.Q;
          for (int64_t q = 0; q < p.Q; ++q) row[q * sw] = v[q];
        }
        T* dst = dxg + c * xs[1] + h0 * p.W;
        if (stream)
          cpu::stream_span(span.get(), span_len, dst);
        else
          std::copy(span.get(), span.get() + span_len, dst);
      }
      cpu::store_fence();
    }
  });
}

template void conv2d_dgrad_1x1_planar<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_1x1_planar<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
