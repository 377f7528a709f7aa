// conv2d forward by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, arXiv:1509.09308):
// each 4x4 output tile comes from a 6x6 input tile with 36 multiplications per (k, c) instead of
// 144, at the price of transforms and a larger rounding error (see the tests' tolerance).
//   x: (N, C, H, W)   w: (K, C/G, 3, 3)   b: (K,) or null   y: (N, K, P, Q); stride 1, dilation 1.
// Per task (group, block of kTilePixels tiles over the batch): gather and transform the block's
// input tiles into V[xi][c][t] (xi = one of the 36 tile positions), run 36 tile GEMMs
// M[xi] = U[xi] (K/G x C/G, the transformed weights) x V[xi], and transform M back to 4x4 outputs.
// All transforms run across the 64 tiles of a block at once, so they vectorise.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/winograd.h"

namespace fastconv {

namespace {

constexpr int64_t TB = cpu::kTilePixels;  // tiles per block: the tile GEMM's column count

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

  // U[g][xi]: (K/G x C/G) GEMM panels of the transformed filters (pack_panels' layout: row k of
  // panel k / 6 at column c is [(k / 6) * Cg + c] * 6 + k % 6), zero past K/G. A task transforms the
  // 6 filters of a panel for all input channels at once (loops over c that vectorise, in the same
  // order of operations as filter_transform) into a local block, then writes each xi's part of U as
  // one contiguous run. One filter at a time, straight into U, every value went to one of 36 places
  // u_stride apart: a third of the forward's time on 8x256x14x14.
  static const double Gm[6][3] = {{0.25, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  const int64_t panels = cpu::panel_count(Kg), run = Cg * cpu::kPanelRows, u_stride = panels * run;
  const auto U = cpu::scratch<T>(G * 36 * u_stride);
  parallel_for(0, G * panels, 1, [&](int64_t lo, int64_t hi) {
    const auto block = cpu::scratch<T>(36 * run);  // [xi][c][k % 6]
    std::vector<double> f(static_cast<size_t>(9 * Cg)), tmp(static_cast<size_t>(18 * Cg));
    for (int64_t gp = lo; gp < hi; ++gp) {
      const int64_t g = gp / panels, panel = gp % panels;
      for (int64_t i = 0; i < cpu::kPanelRows; ++i) {
        const int64_t k = panel * cpu::kPanelRows + i;
        if (k >= Kg) {
          for (int64_t xc = 0; xc < 36 * Cg; ++xc) block[xc * cpu::kPanelRows + i] = T(0);
          continue;
        }
        const T* wk = w + (g * Kg + k) * p.w_strides[0];
        for (int64_t rs = 0; rs < 9; ++rs)
          for (int64_t c = 0; c < Cg; ++c)
            f[rs * Cg + c] = wk[c * p.w_strides[1] + (rs / 3) * p.w_strides[2] + (rs % 3) * p.w_strides[3]];
        // tmp[a][s] = sum_r G[a][r] f[r][s]; u[a][b] = sum_s tmp[a][s] G[b][s], per channel c.
        for (int a = 0; a < 6; ++a)
          for (int sc = 0; sc < 3; ++sc) {
            double* t = tmp.data() + (a * 3 + sc) * Cg;
            const double* f0 = f.data() + sc * Cg;
            const double* f1 = f.data() + (3 + sc) * Cg;
            const double* f2 = f.data() + (6 + sc) * Cg;
            for (int64_t c = 0; c < Cg; ++c) t[c] = Gm[a][0] * f0[c] + Gm[a][1] * f1[c] + Gm[a][2] * f2[c];
          }
        for (int a = 0; a < 6; ++a)
          for (int bb = 0; bb < 6; ++bb) {
            const double* t0 = tmp.data() + (a * 3) * Cg;
            const double* t1 = t0 + Cg;
            const double* t2 = t1 + Cg;
            T* dst = block.get() + (a * 6 + bb) * run + i;
            for (int64_t c = 0; c < Cg; ++c)
              dst[c * cpu::kPanelRows] = static_cast<T>(t0[c] * Gm[bb][0] + t1[c] * Gm[bb][1] + t2[c] * Gm[bb][2]);
          }
      }
      for (int xi = 0; xi < 36; ++xi)
        std::copy(block.get() + xi * run, block.get() + (xi + 1) * run, U.get() + (g * 36 + xi) * u_stride + panel * run);
    }
  });

  const int64_t blocks = cpu::ceil_div(tiles, TB);
  const cpu::PlaneView plane{p.H, p.W, xs[0], xs[2], xs[3]};
  parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> o(16 * TB);
    const auto V = cpu::scratch<T>(36 * Cg * TB), M = cpu::scratch<T>(36 * Kg * TB);
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
        cpu::winograd_f4x3_input_tiles(x + (g * Cg + c) * xs[1], plane, block, V.get() + c * TB, Cg * TB);
      for (int64_t xi = 0; xi < 36; ++xi)
        cpu::gemm_tile(Kg, Cg, U.get() + (g * 36 + xi) * u_stride, V.get() + xi * Cg * TB, M.get() + xi * Kg * TB);
      for (int64_t k = 0; k < Kg; ++k) {
        cpu::winograd_f4x3_output_tiles(M.get() + k * TB, Kg * TB, o.data());
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
