// conv2d backward-data for layers with few input channels per group (the first layer of a
// network: C = 1 or 3), where the gather form of conv2d_dgrad_implicit_gemm.cpp would gather
// K/G * R * S values for every input pixel to produce only C/G outputs.
//   dy: (N, K, P, Q)   w: (K, C/G, R, S)   dx: (N, C, H, W)
// Instead, per tile of output pixels: col[(c, r, s)][t] = sum_k w[k, c, r, s] * dy[n, k, t] (a tile
// GEMM whose B operand is dy's rows, contiguous along the pixels), then each col row is added into
// dx at the input pixels its tap touches (col2im). A task owns whole images of one group, so the
// additions into an image happen on one thread in a fixed order: deterministic, no atomics.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"

namespace fastconv {

template <typename T>
void conv2d_dgrad_col2im(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, M = Cg * RS, PQ = p.P * p.Q;
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  constexpr int64_t TP = cpu::kTilePixels;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // Per group: rows (c, r, s), columns k, in GEMM panels.
  const int64_t group_stride = cpu::panel_count(M) * cpu::kPanelRows * Kg;
  std::vector<T> wt(static_cast<size_t>(G * group_stride));
  const std::vector<int64_t> w_at = cpu::filter_offsets(p);
  for (int64_t g = 0; g < G; ++g)
    cpu::pack_panels<T>(M, Kg, [&](int64_t m, int64_t k) { return w[(g * Kg + k) * p.w_strides[0] + w_at[m]]; },
                        wt.data() + g * group_stride);

  const int64_t tiles = cpu::ceil_div(PQ, TP);
  parallel_for(0, p.N * G, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> b(static_cast<size_t>(Kg * TP)), col(static_cast<size_t>(M * TP));
    std::vector<cpu::PixelRun> runs;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / G, g = task % G;
      for (int64_t c = 0; c < Cg; ++c) {
        T* plane = dx + n * xs[0] + (g * Cg + c) * xs[1];
        for (int64_t h = 0; h < p.H; ++h)
          for (int64_t v = 0; v < p.W; ++v) plane[h * xs[2] + v * xs[3]] = T(0);
      }
      if (Kg == 0) continue;
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t pix0 = tile * TP, count = std::min(TP, PQ - pix0);
        // Runs over this image only (n = 0 of a single-image grid).
        cpu::split_runs(pix0, count, p.P, p.Q, runs);
        for (int64_t k = 0; k < Kg; ++k) {
          const T* dyk = dy + n * ys[0] + (g * Kg + k) * ys[1];
          const cpu::TapMap same{1, 0, 1, 0, p.P, p.Q, 0, ys[2], ys[3]};
          cpu::gather_tap(dyk, runs, TP, same, b.data() + k * TP);
        }
        cpu::gemm_tile(M, Kg, wt.data() + g * group_stride, b.data(), col.data());
        for (int64_t m = 0; m < M; ++m) {
          const int64_t c = m / RS, r = (m / p.S) % p.R, s = m % p.S;
          T* plane = dx + n * xs[0] + (g * Cg + c) * xs[1];
          const T* src = col.data() + m * TP;
          for (const cpu::PixelRun& run : runs) {
            const int64_t h = run.row * p.stride_h - p.pad_h + r * p.dilation_h;
            if (h < 0 || h >= p.H) continue;
            for (int64_t i = 0; i < run.len; ++i) {
              const int64_t v = (run.col0 + i) * p.stride_w - p.pad_w + s * p.dilation_w;
              if (v >= 0 && v < p.W) plane[h * xs[2] + v * xs[3]] += src[run.t0 + i];
            }
          }
        }
      }
    }
  });
}

template void conv2d_dgrad_col2im<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_col2im<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
