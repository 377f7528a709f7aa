// conv2d forward: implicit GEMM over pixel tiles.
//   x: (N, C, H, W)   w: (K, C/G, R, S)   b: (K,) or null   y: (N, K, P, Q)
// Per task (group g, tile of kTilePixels output pixels of the batch): gather the tile's
// (C/G * R * S) x kTilePixels patch matrix, multiply by the group's packed (K/G) x (C/G * R * S)
// weights, add the bias and scatter to y.
#include <vector>

#include "conv2d_tiles.h"
#include "conv2d_algorithms.h"
#include "parallel.h"
#include "scratch.h"

namespace fastconv {

template <typename T>
void conv2d_fprop_implicit_gemm(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Cg * RS, PQ = p.P * p.Q;
  if (p.N == 0 || p.K == 0 || PQ == 0) return;
  if (conv2d_fprop_direct_planar_applies(p)) return conv2d_fprop_direct_planar(p, x, w, b, y);
  if (conv2d_direct_few_channels_applies(p)) return conv2d_fprop_direct_few_channels(p, x, w, b, y);
  // Channels-last input: the indirect GEMM reads pixels in place instead of gathering patches.
  if (conv2d_indirect_gemm_applies(p)) return conv2d_fprop_indirect_gemm(p, x, w, b, y);
  // Planar input with enough channels per group to fill its vectors and several taps: the indirect
  // GEMM on channels-last copies costs less than gathering each tap's patch rows tile by tile. (A
  // 1x1 filter's patch rows are x's own rows, copied contiguously: no gain there.) Images of at
  // least a block of output pixels: copies of the rows each band of outputs reads, made in L2 by
  // the task (conv2d_fprop_indirect_gemm). Smaller ones: one copy of the whole x, so that a block
  // spans several images instead of leaving most of its tiles empty (64 images of 3x3 outputs
  // measured 20 % slower by bands).
  if (Cg >= 16 && RS > 1) {
    if (PQ >= kIndirectGemmBlockPixels) return conv2d_fprop_indirect_gemm(p, x, w, b, y);
    const auto xt = cpu::scratch<T>(p.N * p.H * p.W * p.C);
    cpu::copy_to_channels_last(x, p.N, p.C, p.H, p.W, p.x_strides, xt.get());
    Conv2dParams q = p;
    cpu::channels_last_strides(p.C, p.H, p.W, q.x_strides);
    return conv2d_fprop_indirect_gemm(q, xt.get(), w, b, y);
  }

  // Packed weights per group: rows k, columns j = (c, r, s), in GEMM panels.
  const int64_t group_stride = cpu::panel_count(Kg) * cpu::kPanelRows * J;
  std::vector<T> wp(static_cast<size_t>(G * group_stride));
  const std::vector<int64_t> w_at = cpu::filter_offsets(p);
  for (int64_t g = 0; g < G; ++g)
    cpu::pack_panels<T>(Kg, J, [&](int64_t k, int64_t j) { return w[(g * Kg + k) * p.w_strides[0] + w_at[j]]; },
                        wp.data() + g * group_stride);

  // A task gathers kSpan pixels at once (longer contiguous reads per channel plane than one GEMM
  // tile would make) and runs the tile GEMM on each kTilePixels-wide slice of them.
  constexpr int64_t TP = cpu::kTilePixels, kSpan = 4 * TP;
  const int64_t NPQ = p.N * PQ, spans = cpu::ceil_div(NPQ, kSpan);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  parallel_for(0, G * spans, 1, [&](int64_t lo, int64_t hi) {
    const auto patch = cpu::scratch<T>(J * kSpan), out = cpu::scratch<T>(Kg * kSpan);
    std::vector<cpu::PixelRun> runs;
    const cpu::OutMap to_y{1, 0, 1, 0, ys[0], ys[2], ys[3]};
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t span = task % spans, g = task / spans;
      const int64_t pix0 = span * kSpan, count = std::min(kSpan, NPQ - pix0);
      const int64_t width = cpu::ceil_div(count, TP) * TP;
      cpu::split_runs(pix0, count, p.P, p.Q, runs);
      for (int64_t c = 0; c < Cg; ++c) {
        const T* xc = x + (g * Cg + c) * xs[1];
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s) {
            const cpu::TapMap tap{p.stride_h, r * p.dilation_h - p.pad_h, p.stride_w, s * p.dilation_w - p.pad_w,
                                  p.H, p.W, xs[0], xs[2], xs[3]};
            cpu::gather_tap(xc, runs, width, tap, patch.get() + ((c * p.R + r) * p.S + s) * kSpan);
          }
      }
      for (int64_t t0 = 0; t0 < width; t0 += TP)
        cpu::gemm_tile(Kg, J, wp.data() + g * group_stride, patch.get() + t0, kSpan, out.get() + t0, kSpan);
      for (int64_t k = 0; k < Kg; ++k) {
        const int64_t kk = g * Kg + k;
        cpu::scatter_runs(out.get() + k * kSpan, runs, to_y, b ? b[kk * p.b_stride] : T(0), y + kk * ys[1]);
      }
    }
  });
}

template void conv2d_fprop_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, const double*, double*);

}  // namespace fastconv
