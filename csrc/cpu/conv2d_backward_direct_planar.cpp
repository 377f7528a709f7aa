// conv2d backward for few input channels with unit strides (the first layer of an image model):
// dx, dw and db from one staged copy of dy, on the planar direct kernels
// (ukernels/conv_direct_planar.h), pixels in the vector lanes.
//   dy: (N, K, P, Q) any strides   x, dx: (N, C, H, W) any strides, C <= 4   w, dw: (K, C, R, S)   db: (K,)
//
// Flat rows. With D = (R-1)*dil_h, E = (S-1)*dil_w and L = Q + E (the padded input's width), dy's
// rows are staged L apart with E zeros in front of each: dy'[k][(p + D)*L + E + q] = dy[n, k, p, q],
// zero elsewhere. A tap (r, s) that shifts a row past either end then reads zeros (its own row's
// leading ones, or the next row's), so both gradients become 1-D correlations over whole planes:
//   dx_pad[c][o] = sum over (k, r, s) of w[k, c, r, s] * dy'[k][o + (D - r*dil_h)*L + E - s*dil_w]
//                  for every padded input pixel o = hp*L + vp, without a row loop or a ragged tail;
//   dw[k, c, r, s] = sum over j of dy'[k][D*L + j] * x'[c][j + r*dil_h*L + s*dil_w]
//                  where x' holds the padded input at (hp*L + vp + E), and db[k] = sum over j of
//                  dy'[k][D*L + j] (a last tap that reads ones).
// On the seed model's 28x28 -> 26x26 layer the dx planes are exactly 49 zmm vectors: every lane is
// a pixel, against 26 of 32 for row-by-row kernels; dy is read from memory once for all three.
//
// Units: (image, band of dy rows), sized so that a band's staged dy stays in cache. A unit writes
// the dx rows of its band (the last band also those below the last dy row) and adds its dw and db
// sums into its part's partial; parts are fixed by the problem, added in order at the end. Every
// output is the same sum in the same order for any thread count, and each gradient's bits do not
// depend on which others are asked for (conv2d.cpp sends dw and db without dx from channels-last
// dy to the channels-last kernels).
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {

namespace {
constexpr int64_t kStageElems = 64 * 1024;  // staged dy values per unit (256 KB of float32)
// Bands shorter than this (and than 4 halos) re-stage too much of dy: wide images with many filters
// (224x224, 64 filters: 4 rows a band) measured up to 1.5x slower here than on the row-by-row
// kernels, and stay there.
constexpr int64_t kMinBand = 8;
constexpr int64_t kMaxParts = 64;

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

struct Geometry {
  int64_t D, E, L;     // row halo, column halo, staged row length
  int64_t band, bands; // dy rows per unit
  int64_t plane;       // staged dy values per filter k
  int64_t x_plane;     // staged x values per input channel
  int64_t dx_plane;    // dx values per input channel (padded rows of the last band included)
  explicit Geometry(const Conv2dParams& p) {
    D = (p.R - 1) * p.dilation_h, E = (p.S - 1) * p.dilation_w, L = p.Q + E;
    band = std::clamp<int64_t>(kStageElems / (p.K * L) - 2 * D, 1, p.P);
    bands = cpu::ceil_div(p.P, band);
    // dx reads up to (band + 2D) rows and E more, in whole vectors: kPlanarPad of slack.
    plane = round_up((band + 2 * D) * L + E + cpu::kPlanarPad, cpu::kPlanarPad);
    x_plane = (band + D) * L + E;
    dx_plane = round_up((band + D) * L, cpu::kPlanarPad);
  }
};

// Rows p0 - D .. p0 + rows - 1 of dy's image n into dyt (plane k at k * g.plane), zeros outside
// [0, P), then zeros to the plane's end. Without `halo` (no dx wanted), only the rows p0 .. p0 +
// rows - 1 that the sums read.
template <typename T>
void stage_dy(const Conv2dParams& p, const Geometry& g, const T* dy, int64_t n, int64_t p0, int64_t rows, bool halo,
              T* dyt) {
  const int64_t* ys = p.y_strides;
  const int64_t staged = rows + g.D;
  // Staged rows i_lo .. i_hi - 1 hold dy rows p0 - D + i inside [0, P).
  const int64_t i_lo = halo ? std::clamp<int64_t>(g.D - p0, 0, staged) : g.D;
  const int64_t i_hi = std::clamp<int64_t>(p.P - p0 + g.D, i_lo, staged);
  const bool transpose = ys[3] != 1 && ys[1] == 1 && p.K >= 16 && p.Q >= 16;
  for (int64_t k = 0; k < p.K; ++k) {
    T* plane = dyt + k * g.plane;
    if (halo) {
      std::fill(plane, plane + i_lo * g.L, T(0));
      std::fill(plane + i_hi * g.L, plane + g.plane, T(0));
    }
    const T* src = dy + n * ys[0] + k * ys[1] + (p0 - g.D + i_lo) * ys[2];
    if (ys[3] == 1) {
      cpu::selected::conv_direct_planar_stage(i_hi - i_lo, p.Q, g.E, src, ys[2], plane + i_lo * g.L);
      continue;
    }
    for (int64_t i = i_lo; i < i_hi; ++i, src += ys[2]) {
      T* row = plane + i * g.L;
      std::fill(row, row + g.E, T(0));
      if (!transpose)
        for (int64_t q = 0; q < p.Q; ++q) row[g.E + q] = src[q * ys[3]];
    }
  }
  if (!transpose) return;
  // Channels-last dy: each row is a (Q, K) block, moved in 16 x 16 tiles (a partial tile moves back
  // to end at the row's end).
  constexpr int64_t kB = 16;
  for (int64_t i = i_lo; i < i_hi; ++i) {
    const T* src = dy + n * ys[0] + (p0 - g.D + i) * ys[2];
    T* dst = dyt + i * g.L + g.E;
    for (int64_t q0 = 0; q0 < p.Q; q0 += kB) {
      const int64_t qq = std::min(q0, p.Q - kB);
      for (int64_t k0 = 0; k0 < p.K; k0 += kB) {
        const int64_t kk = std::min(k0, p.K - kB);
        if (cpu::transpose_16x16(src + qq * ys[3] + kk, ys[3], dst + kk * g.plane + qq, g.plane)) continue;
        for (int64_t q = qq; q < qq + kB; ++q)
          for (int64_t k = kk; k < kk + kB; ++k) dst[k * g.plane + q] = src[q * ys[3] + k];
      }
    }
  }
}

// Padded input rows p0 .. p0 + rows + D - 1 of image n: xt[c * x_plane + (hp - p0) * L + vp + E].
template <typename T>
void stage_x(const Conv2dParams& p, const Geometry& g, const T* x, int64_t n, int64_t p0, int64_t rows, T* xt) {
  const int64_t* xs = p.x_strides;
  const int64_t v_lo = std::min(g.L, p.pad_w), v_hi = std::clamp(p.pad_w + p.W, v_lo, g.L);
  for (int64_t c = 0; c < p.C; ++c) {
    T* plane = xt + c * g.x_plane;
    std::fill(plane, plane + g.E, T(0));
    for (int64_t i = 0; i < rows + g.D; ++i) {
      T* row = plane + g.E + i * g.L;
      const int64_t h = p0 + i - p.pad_h;
      if (h < 0 || h >= p.H) {
        std::fill(row, row + g.L, T(0));
        continue;
      }
      const T* src = x + n * xs[0] + c * xs[1] + h * xs[2] + (v_lo - p.pad_w) * xs[3];
      std::fill(row, row + v_lo, T(0));
      if (xs[3] == 1) std::memcpy(row + v_lo, src, static_cast<size_t>(v_hi - v_lo) * sizeof(T));
      else for (int64_t v = v_lo; v < v_hi; ++v) row[v] = src[(v - v_lo) * xs[3]];
      std::fill(row + v_hi, row + g.L, T(0));
    }
  }
}

// dx rows of the unit from its padded rows p0 .. p0 + rows_out - 1 (dxt, planes of dx_plane); the
// last unit of an image also zeros the rows no tap reaches.
template <typename T>
void store_dx(const Conv2dParams& p, const Geometry& g, const T* dxt, int64_t n, int64_t p0, int64_t rows_out,
              bool last, T* dx, const int64_t* dxs) {
  const int64_t h_lo = std::max<int64_t>(0, p0 - p.pad_h);
  const int64_t h_hi = last ? p.H : std::clamp<int64_t>(p0 + rows_out - p.pad_h, h_lo, p.H);
  const int64_t v_hi = std::clamp<int64_t>(g.L - p.pad_w, 0, p.W);  // columns taps reach
  for (int64_t c = 0; c < p.C; ++c)
    for (int64_t h = h_lo; h < h_hi; ++h) {
      T* dst = dx + n * dxs[0] + c * dxs[1] + h * dxs[2];
      const int64_t hp = h + p.pad_h - p0;
      if (hp >= rows_out) {
        for (int64_t v = 0; v < p.W; ++v) dst[v * dxs[3]] = T(0);
        continue;
      }
      const T* src = dxt + c * g.dx_plane + hp * g.L + p.pad_w;
      if (dxs[3] == 1) std::memcpy(dst, src, static_cast<size_t>(v_hi) * sizeof(T));
      else for (int64_t v = 0; v < v_hi; ++v) dst[v * dxs[3]] = src[v];
      for (int64_t v = v_hi; v < p.W; ++v) dst[v * dxs[3]] = T(0);
    }
}
}  // namespace

bool conv2d_backward_direct_planar_applies(const Conv2dParams& p) {
  if (!(p.groups == 1 && p.C >= 1 && p.C <= 4 && p.stride_h == 1 && p.stride_w == 1 && p.K >= 1 && p.N >= 1 &&
        p.H >= 1 && p.W >= 1 && p.P >= 1 && p.Q >= 1 &&
        (p.algorithm == Conv2dAlgorithm::automatic || p.algorithm == Conv2dAlgorithm::implicit_gemm ||
         (p.algorithm == Conv2dAlgorithm::winograd && conv2d_winograd_applies(p)))))
    return false;
  const Geometry g(p);
  return g.band == p.P || g.band >= std::max(kMinBand, 4 * g.D);
}

template <typename T>
void conv2d_backward_direct_planar(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                                   const int64_t* dx_strides, T* dw, const int64_t* dw_strides, T* db) {
  constexpr int64_t NB = cpu::kPlanarCols;
  if (dx == nullptr && dw == nullptr && db == nullptr) return;
  const Geometry g(p);
  const int64_t RS = p.R * p.S, k_blocks = cpu::ceil_div(p.K, NB);
  const int64_t units = p.N * g.bands;
  const int64_t units_per_part = std::max<int64_t>(1, cpu::ceil_div(units, kMaxParts));
  const int64_t parts = cpu::ceil_div(units, units_per_part);

  // dx: taps (k, r, s) over the staged planes, the filters packed [(k, r, s)][NB] by input channel.
  std::vector<int64_t> dx_at;
  std::vector<T> wp;
  if (dx) {
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) {
          dx_at.push_back(k * g.plane + (g.D - r * p.dilation_h) * g.L + g.E - s * p.dilation_w);
          for (int64_t c = 0; c < NB; ++c)
            wp.push_back(c < p.C ? w[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]]
                                 : T(0));
        }
  }
  // dw and db: taps (c, r, s) into the staged x, then one into a run of ones for db.
  const int64_t ones_at = p.C * g.x_plane;
  std::vector<int64_t> sum_at;
  if (dw)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) sum_at.push_back(c * g.x_plane + r * p.dilation_h * g.L + s * p.dilation_w);
  if (db) sum_at.push_back(ones_at);
  const int64_t sums = static_cast<int64_t>(sum_at.size());
  const int64_t part_size = k_blocks * sums * NB;
  const auto partial = cpu::scratch<T>(std::max<int64_t>(1, parts * part_size));

  parallel_for(0, parts, 1, [&](int64_t lo, int64_t hi) {
    const auto dyt = cpu::scratch<T>(p.K * g.plane);
    const auto xt = cpu::scratch<T>(sums ? ones_at + g.band * g.L : 0);
    const auto dxt = cpu::scratch<T>(dx ? p.C * g.dx_plane : 0);
    if (db) std::fill(xt.get() + ones_at, xt.get() + ones_at + g.band * g.L, T(1));
    for (int64_t part = lo; part < hi; ++part) {
      T* acc = partial.get() + part * part_size;
      std::fill(acc, acc + part_size, T(0));
      for (int64_t unit = part * units_per_part; unit < std::min(units, (part + 1) * units_per_part); ++unit) {
        const int64_t n = unit / g.bands, b = unit % g.bands, p0 = b * g.band, rows = std::min(g.band, p.P - p0);
        const bool last = b == g.bands - 1;
        stage_dy(p, g, dy, n, p0, rows, dx != nullptr, dyt.get());
        if (dx) {
          const int64_t rows_out = last ? rows + g.D : rows;
          cpu::selected::conv_direct_planar(rows_out * g.L, p.C, static_cast<int64_t>(dx_at.size()), dx_at.data(),
                                            dyt.get(), wp.data(), nullptr, dxt.get(), g.dx_plane);
          store_dx(p, g, dxt.get(), n, p0, rows_out, last, dx, dx_strides);
        }
        if (sums == 0) continue;
        if (dw) stage_x(p, g, x, n, p0, rows, xt.get());
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          cpu::selected::conv_direct_planar_wgrad(1, rows * g.L, std::min(NB, p.K - kb * NB), sums, sum_at.data(),
                                                  xt.get(), 0, dyt.get() + kb * NB * g.plane + g.D * g.L, g.plane, 0,
                                                  acc + kb * sums * NB);
      }
    }
  });

  if (sums == 0) return;
  for (int64_t k = 0; k < p.K; ++k) {
    const T* first = partial.get() + (k / NB) * sums * NB + k % NB;
    for (int64_t t = 0; t < sums; ++t) {
      T total = first[t * NB];
      for (int64_t part = 1; part < parts; ++part) total += first[part * part_size + t * NB];
      if (db && t == sums - 1) {
        db[k * p.b_stride] = total;
        continue;
      }
      const int64_t c = t / RS, r = (t % RS) / p.S, s = t % p.S;
      dw[k * dw_strides[0] + c * dw_strides[1] + r * dw_strides[2] + s * dw_strides[3]] = total;
    }
  }
}

template void conv2d_backward_direct_planar<float>(const Conv2dParams&, const float*, const float*, const float*,
                                                   float*, const int64_t*, float*, const int64_t*, float*);
template void conv2d_backward_direct_planar<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                    double*, const int64_t*, double*, const int64_t*, double*);

}  // namespace fastconv
