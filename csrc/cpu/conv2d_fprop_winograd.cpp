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

namespace fastconv {

namespace {

constexpr int64_t TB = cpu::kTilePixels;  // tiles per block: the tile GEMM's column count

// out[i] = (B^T in)[i] for the 6-point input transform, each operand a row of TB lanes.
template <typename T>
inline void input_transform_6(const T* const in[6], T* const out[6]) {
  for (int64_t t = 0; t < TB; ++t) {
    const T d0 = in[0][t], d1 = in[1][t], d2 = in[2][t], d3 = in[3][t], d4 = in[4][t], d5 = in[5][t];
    out[0][t] = T(4) * d0 - T(5) * d2 + d4;
    out[1][t] = -T(4) * (d1 + d2) + d3 + d4;
    out[2][t] = T(4) * (d1 - d2) - d3 + d4;
    out[3][t] = T(2) * (d3 - d1) - d2 + d4;
    out[4][t] = T(2) * (d1 - d3) - d2 + d4;
    out[5][t] = T(4) * d1 - T(5) * d3 + d5;
  }
}

// out[i] = (A^T in)[i] for the 4-point output transform.
template <typename T>
inline void output_transform_6(const T* const in[6], T* const out[4]) {
  for (int64_t t = 0; t < TB; ++t) {
    const T m0 = in[0][t], m1 = in[1][t], m2 = in[2][t], m3 = in[3][t], m4 = in[4][t], m5 = in[5][t];
    const T s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    out[0][t] = m0 + s12 + s34;
    out[1][t] = d12 + T(2) * d34;
    out[2][t] = s12 + T(4) * s34;
    out[3][t] = d12 + T(8) * d34 + m5;
  }
}

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

  // U[g][xi]: (K/G x C/G) GEMM panels of the transformed filters.
  const int64_t u_stride = cpu::panel_count(Kg) * cpu::kPanelRows * Cg;
  std::vector<T> U(static_cast<size_t>(G * 36 * u_stride));
  {
    std::vector<T> full(static_cast<size_t>(36 * Kg * Cg));
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t k = 0; k < Kg; ++k)
        for (int64_t c = 0; c < Cg; ++c) {
          double f[3][3], u[6][6];
          for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s)
              f[r][s] = w[(g * Kg + k) * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
          filter_transform(f, u);
          for (int xi = 0; xi < 36; ++xi) full[(xi * Kg + k) * Cg + c] = static_cast<T>(u[xi / 6][xi % 6]);
        }
      for (int64_t xi = 0; xi < 36; ++xi)
        cpu::pack_panels<T>(Kg, Cg, [&](int64_t k, int64_t c) { return full[(xi * Kg + k) * Cg + c]; },
                            U.data() + (g * 36 + xi) * u_stride);
    }
  }

  const int64_t blocks = cpu::ceil_div(tiles, TB);
  parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> d(36 * TB), e(36 * TB), o(16 * TB);
    std::vector<T> V(static_cast<size_t>(36 * Cg * TB)), M(static_cast<size_t>(36 * Kg * TB));
    std::vector<int64_t> tile_n(TB), tile_h(TB), tile_w(TB);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / blocks, t0 = (task % blocks) * TB, count = std::min(TB, tiles - t0);
      for (int64_t t = 0; t < TB; ++t) {
        const int64_t tile = t0 + std::min(t, count - 1);  // lanes past the end repeat the last tile
        tile_n[t] = tile / (TH * TW);
        tile_h[t] = (tile / TW) % TH * 4 - p.pad_h;
        tile_w[t] = tile % TW * 4 - p.pad_w;
      }
      for (int64_t c = 0; c < Cg; ++c) {
        const T* xc = x + (g * Cg + c) * xs[1];
        for (int64_t i = 0; i < 6; ++i)
          for (int64_t j = 0; j < 6; ++j) {
            T* row = d.data() + (i * 6 + j) * TB;
            for (int64_t t = 0; t < TB; ++t) {
              const int64_t h = tile_h[t] + i, v = tile_w[t] + j;
              row[t] = (h >= 0 && h < p.H && v >= 0 && v < p.W) ? xc[tile_n[t] * xs[0] + h * xs[2] + v * xs[3]] : T(0);
            }
          }
        // Columns then rows: e = B^T d (per column j), V = e B.
        for (int64_t j = 0; j < 6; ++j) {
          const T* in[6];
          T* out[6];
          for (int i = 0; i < 6; ++i) in[i] = d.data() + (i * 6 + j) * TB, out[i] = e.data() + (i * 6 + j) * TB;
          input_transform_6(in, out);
        }
        for (int64_t i = 0; i < 6; ++i) {
          const T* in[6];
          T* out[6];
          for (int j = 0; j < 6; ++j) in[j] = e.data() + (i * 6 + j) * TB, out[j] = V.data() + ((i * 6 + j) * Cg + c) * TB;
          input_transform_6(in, out);
        }
      }
      for (int64_t xi = 0; xi < 36; ++xi)
        cpu::gemm_tile(Kg, Cg, U.data() + (g * 36 + xi) * u_stride, V.data() + xi * Cg * TB, M.data() + xi * Kg * TB);
      for (int64_t k = 0; k < Kg; ++k) {
        // Rows then columns: e = A^T m (6 columns -> 4 rows), o = e A.
        for (int64_t j = 0; j < 6; ++j) {
          const T* in[6];
          T* out[4];
          for (int i = 0; i < 6; ++i) in[i] = M.data() + ((i * 6 + j) * Kg + k) * TB;
          for (int i = 0; i < 4; ++i) out[i] = e.data() + (i * 6 + j) * TB;
          output_transform_6(in, out);
        }
        for (int64_t i = 0; i < 4; ++i) {
          const T* in[6];
          T* out[4];
          for (int j = 0; j < 6; ++j) in[j] = e.data() + (i * 6 + j) * TB;
          for (int j = 0; j < 4; ++j) out[j] = o.data() + (i * 4 + j) * TB;
          output_transform_6(in, out);
        }
        const int64_t kk = g * Kg + k;
        const T bias = b ? b[kk * p.b_stride] : T(0);
        T* yk = y + kk * ys[1];
        for (int64_t t = 0; t < count; ++t) {
          const int64_t oh = tile_h[t] + p.pad_h, ow = tile_w[t] + p.pad_w;
          for (int64_t i = 0; i < 4 && oh + i < p.P; ++i)
            for (int64_t j = 0; j < 4 && ow + j < p.Q; ++j)
              yk[tile_n[t] * ys[0] + (oh + i) * ys[2] + (ow + j) * ys[3]] = o[(i * 4 + j) * TB + t] + bias;
        }
      }
    }
  });
}

template void conv2d_fprop_winograd<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_winograd<double>(const Conv2dParams&, const double*, const double*, const double*, double*);

}  // namespace fastconv
