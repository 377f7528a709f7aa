// conv2d forward by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, arXiv:1509.09308):
// each 4x4 output tile comes from a 6x6 input tile with 36 multiplications per (k, c) instead of
// 144, at the price of transforms and a larger rounding error (see the tests' tolerance).
//   x: (N, C, H, W)   w: (K, C/G, 3, 3)   b: (K,) or null   y: (N, K, P, Q); stride 1, dilation 1.
// Per task (group, block of kTilePixels tiles over the batch): gather and transform the block's
// input tiles into V[xi][c][t] (xi = one of the 36 tile positions), run 36 tile GEMMs
// M[xi] = U[xi] (K/G x C/G, the transformed weights) x V[xi], and transform M back to 4x4 outputs.
// All transforms run across the 64 tiles of a block at once, so they vectorise.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "ukernels/winograd.h"

namespace fastconv {

namespace {

constexpr int64_t TB = cpu::kTilePixels;  // tiles per block: the tile GEMM's column count

// u = G g G^T (6x6) for one 3x3 filter g, in double.
void filter_transform(const double g[3][3], double u[6][6]) {
  static const double G[6][3] = {{0.25, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  double tmp[6][3];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) tmp[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) u[i][j] = tmp[i][0] * G[j][0] + tmp[i][1] * G[j][1] + tmp[i][2] * G[j][2];
}

}  // namespace

bool conv2d_winograd_applies(const Conv2dParams& p) {
  return p.R == 3 && p.S == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1;
}

template <typename T>
void conv2d_fprop_winograd(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t TH = cpu::ceil_div(p.P, 4), TW = cpu::ceil_div(p.Q, 4), tiles = p.N * TH * TW;
  if (tiles == 0 || p.K == 0) return;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // U[g][xi]: (K/G x C/G) GEMM panels of the transformed filters, written in place
  // (pack_panels' layout: row k of panel k / 6 at column c is [(k / 6) * Cg + c] * 6 + k % 6).
  const int64_t u_stride = cpu::panel_count(Kg) * cpu::kPanelRows * Cg;
  std::vector<T> U(static_cast<size_t>(G * 36 * u_stride));
  parallel_for(0, G * Kg, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t gk = lo; gk < hi; ++gk) {
      const int64_t g = gk / Kg, k = gk % Kg;
      for (int64_t c = 0; c < Cg; ++c) {
        double f[3][3], u[6][6];
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s)
            f[r][s] = w[gk * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
        filter_transform(f, u);
        T* dst = U.data() + g * 36 * u_stride + ((k / cpu::kPanelRows) * Cg + c) * cpu::kPanelRows + k % cpu::kPanelRows;
        for (int xi = 0; xi < 36; ++xi) dst[xi * u_stride] = static_cast<T>(u[xi / 6][xi % 6]);
      }
    }
  });

  const int64_t blocks = cpu::ceil_div(tiles, TB);
  const cpu::PlaneView plane{p.H, p.W, xs[0], xs[2], xs[3]};
  parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> o(16 * TB);
    std::vector<T> V(static_cast<size_t>(36 * Cg * TB)), M(static_cast<size_t>(36 * Kg * TB));
    std::vector<int64_t> tile_n(TB), tile_h(TB), tile_w(TB);
    const cpu::WinogradTiles block{tile_n.data(), tile_h.data(), tile_w.data()};
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / blocks, t0 = (task % blocks) * TB, count = std::min(TB, tiles - t0);
      for (int64_t t = 0; t < TB; ++t) {
        const int64_t tile = t0 + std::min(t, count - 1);  // lanes past the end repeat the last tile
        tile_n[t] = tile / (TH * TW);
        tile_h[t] = (tile / TW) % TH * 4 - p.pad_h;
        tile_w[t] = tile % TW * 4 - p.pad_w;
      }
      // V[xi][c][t]: rows of one xi are Cg * TB apart.
      for (int64_t c = 0; c < Cg; ++c)
        cpu::winograd_f4x3_input_tiles(x + (g * Cg + c) * xs[1], plane, block, V.data() + c * TB, Cg * TB);
      for (int64_t xi = 0; xi < 36; ++xi)
        cpu::gemm_tile(Kg, Cg, U.data() + (g * 36 + xi) * u_stride, V.data() + xi * Cg * TB, M.data() + xi * Kg * TB);
      for (int64_t k = 0; k < Kg; ++k) {
        cpu::winograd_f4x3_output_tiles(M.data() + k * TB, Kg * TB, o.data());
        const int64_t kk = g * Kg + k;
        const T bias = b ? b[kk * p.b_stride] : T(0);
        T* yk = y + kk * ys[1];
        for (int64_t t = 0; t < count; ++t) {
          const int64_t oh = tile_h[t] + p.pad_h, ow = tile_w[t] + p.pad_w;
          T* dst = yk + tile_n[t] * ys[0] + oh * ys[2] + ow * ys[3];
          for (int64_t i = 0; i < 4 && oh + i < p.P; ++i)
            for (int64_t j = 0; j < 4 && ow + j < p.Q; ++j) dst[i * ys[2] + j * ys[3]] = o[(i * 4 + j) * TB + t] + bias;
        }
      }
    }
  });
}

template void conv2d_fprop_winograd<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_winograd<double>(const Conv2dParams&, const double*, const double*, const double*, double*);

}  // namespace fastconv
