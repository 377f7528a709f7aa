// conv2d backward-data: the transpose of fprop's implicit GEMM, written as a gather so that every
// dx element is produced by exactly one task (no scatter races, deterministic). Layers with few
// input channels go to conv2d_dgrad_col2im.cpp, those where the indirect GEMM pays off to
// conv2d_dgrad_by_forward.cpp; the rest gather here.
//   dy: (N, K, P, Q)   w: (K, C/G, R, S)   dx: (N, C, H, W)
// dx[n, c, h, v] = sum over k in c's group, r, s of w[k, c, r, s] * dy[n, k, p, q]
//   where h = p * stride_h - pad_h + r * dilation_h (and likewise v, q), when such p, q exist.
//
// Stride phases: with stride > 1 an input row h is reached only by the taps r with
// (h + pad_h - r * dilation_h) divisible by stride_h, a set that depends on h mod stride_h alone.
// So the input pixels are split into stride_h * stride_w phases, each a sub-grid whose pixels share
// one tap set; per phase the GEMM runs over those taps only (no multiplications by zero), and a
// phase no tap reaches (strided 1x1 layers) is plain zero fill.
// Per task (group, phase, tile of the phase's pixels over the batch): gather the
// (K/G * taps) x tile matrix of dy values and multiply by the group's weights restricted to the
// phase's taps, transposed to (C/G) x (K/G * taps).
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"

namespace fastconv {

namespace {

struct Phase {
  int64_t a = 0, b = 0;          // h = a + i * stride_h, v = b + j * stride_w
  int64_t rows = 0, cols = 0;    // sub-grid extent
  std::vector<int64_t> r, s;     // taps reaching it
  int64_t J = 0;                 // K/G * |r| * |s|
  int64_t tiles = 0;             // over N * rows * cols
  int64_t weight_offset = 0;     // of its packed weights, per group
};

enum class DgradForm { direct_planar, col2im, planar_1x1, strided_1x1_channels_last, col2im_channels_last, by_forward, phases };

DgradForm pick_form(const Conv2dParams& p) {
  const int64_t Cg = p.C_per_group(), Kg = p.K_per_group();
  // Fewer input channels than a GEMM panel has rows: the col2im form does far less gathering.
  // One task per image: used only where a batch gives the threads work (a fixed rule, not the thread
  // count, picks it, so results do not depend on the number of threads).
  if (conv2d_dgrad_direct_planar_applies(p)) return DgradForm::direct_planar;
  if (Cg < cpu::kPanelRows && p.N >= 4) return DgradForm::col2im;
  // 1x1 filters on planar dy: a GEMM per image on dy where it lies (no gather, no copy of dy).
  if (conv2d_dgrad_1x1_planar_applies(p)) return DgradForm::planar_1x1;
  if (conv2d_dgrad_1x1_channels_last_applies(p)) return DgradForm::strided_1x1_channels_last;
  if (conv2d_dgrad_col2im_channels_last_applies(p)) return DgradForm::col2im_channels_last;
  // Where the forward's indirect GEMM pays off (the rule of conv2d_fprop_implicit_gemm), run the
  // gradient as forward passes of dy (conv2d_dgrad_by_forward.cpp).
  if (p.y_strides[1] == 1 || (Kg >= 16 && (p.R * p.S > 1 || p.stride_h * p.stride_w > 1)))
    return DgradForm::by_forward;
  return DgradForm::phases;
}

}  // namespace

bool conv2d_dgrad_implicit_gemm_reads_channels_last_dy(const Conv2dParams& p) {
  Conv2dParams q = p;  // the same form for dy with contiguous channels: the same sums
  cpu::channels_last_strides(p.K, p.P, p.Q, q.y_strides);
  const DgradForm form = pick_form(p);
  return form == pick_form(q) && (form == DgradForm::col2im_channels_last || form == DgradForm::by_forward);
}

template <typename T>
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  switch (pick_form(p)) {
    case DgradForm::direct_planar: return conv2d_dgrad_direct_planar(p, dy, w, dx);
    case DgradForm::col2im: return conv2d_dgrad_col2im(p, dy, w, dx);
    case DgradForm::planar_1x1: return conv2d_dgrad_1x1_planar(p, dy, w, dx);
    case DgradForm::strided_1x1_channels_last: return conv2d_dgrad_1x1_channels_last(p, dy, w, dx);
    case DgradForm::col2im_channels_last: return conv2d_dgrad_col2im_channels_last(p, dy, w, dx);
    case DgradForm::by_forward: return conv2d_dgrad_by_forward(p, dy, w, dx);
    case DgradForm::phases: break;
  }
  constexpr int64_t TP = cpu::kTilePixels;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  std::vector<Phase> phases;
  int64_t weights_per_group = 0, max_J = 0;
  for (int64_t a = 0; a < std::min(p.stride_h, p.H); ++a)
    for (int64_t b = 0; b < std::min(p.stride_w, p.W); ++b) {
      Phase ph;
      ph.a = a, ph.b = b;
      ph.rows = cpu::ceil_div(p.H - a, p.stride_h), ph.cols = cpu::ceil_div(p.W - b, p.stride_w);
      ph.r = cpu::stride_phase_taps(a, p.R, p.stride_h, p.pad_h, p.dilation_h);
      ph.s = cpu::stride_phase_taps(b, p.S, p.stride_w, p.pad_w, p.dilation_w);
      ph.J = Kg * static_cast<int64_t>(ph.r.size() * ph.s.size());
      ph.tiles = cpu::ceil_div(p.N * ph.rows * ph.cols, TP);
      ph.weight_offset = weights_per_group;
      weights_per_group += cpu::panel_count(Cg) * cpu::kPanelRows * ph.J;
      max_J = std::max(max_J, ph.J);
      phases.push_back(std::move(ph));
    }

  // Per group and phase: rows c, columns j = (k, r in phase.r, s in phase.s), in GEMM panels.
  std::vector<T> wt(static_cast<size_t>(G * weights_per_group));
  for (int64_t g = 0; g < G; ++g)
    for (const Phase& ph : phases) {
      if (ph.J == 0) continue;
      // Offsets in w of the columns j = (k, r, s) of the phase.
      std::vector<int64_t> at;
      for (int64_t k = 0; k < Kg; ++k)
        for (int64_t r : ph.r)
          for (int64_t s : ph.s) at.push_back(k * p.w_strides[0] + r * p.w_strides[2] + s * p.w_strides[3]);
      const T* wg = w + g * Kg * p.w_strides[0];
      cpu::pack_panels<T>(Cg, ph.J, [&](int64_t c, int64_t j) { return wg[c * p.w_strides[1] + at[j]]; },
                          wt.data() + g * weights_per_group + ph.weight_offset);
    }

  // Tasks: for each group, the phases' tiles one after another.
  std::vector<int64_t> first_tile{0};
  for (const Phase& ph : phases) first_tile.push_back(first_tile.back() + ph.tiles);
  const int64_t tiles_per_group = first_tile.back();

  parallel_for(0, G * tiles_per_group, 1, [&](int64_t lo, int64_t hi) {
    const auto gathered = cpu::scratch<T>(max_J * TP), out = cpu::scratch<T>(Cg * TP);
    std::vector<cpu::PixelRun> runs;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / tiles_per_group, rest = task % tiles_per_group;
      size_t pi = 0;
      while (first_tile[pi + 1] <= rest) ++pi;
      const Phase& ph = phases[pi];
      const int64_t total = p.N * ph.rows * ph.cols;
      const int64_t pix0 = (rest - first_tile[pi]) * TP, count = std::min(TP, total - pix0);
      const int64_t nr = ph.r.size(), ns = ph.s.size();
      // Pixel (i, j) of the phase is input (a + i * stride_h, b + j * stride_w); tap (r, s) connects
      // it to output (i + (a + pad_h - r * dil_h) / stride_h, j + ...), exact divisions by the
      // choice of the phase's taps.
      cpu::split_runs(pix0, count, ph.rows, ph.cols, runs);
      if (ph.J == 0) {
        std::fill(out.get(), out.get() + Cg * TP, T(0));
      } else {
        for (int64_t k = 0; k < Kg; ++k) {
          const T* dyk = dy + (g * Kg + k) * ys[1];
          for (int64_t ir = 0; ir < nr; ++ir)
            for (int64_t is = 0; is < ns; ++is) {
              const cpu::TapMap tap{1, (ph.a + p.pad_h - ph.r[ir] * p.dilation_h) / p.stride_h, 1,
                                    (ph.b + p.pad_w - ph.s[is] * p.dilation_w) / p.stride_w, p.P, p.Q, ys[0], ys[2],
                                    ys[3]};
              cpu::gather_tap(dyk, runs, TP, tap, gathered.get() + ((k * nr + ir) * ns + is) * TP);
            }
        }
        cpu::gemm_tile(Cg, ph.J, wt.data() + g * weights_per_group + ph.weight_offset, gathered.get(), out.get());
      }
      const cpu::OutMap to_dx{p.stride_h, ph.a, p.stride_w, ph.b, xs[0], xs[2], xs[3]};
      for (int64_t c = 0; c < Cg; ++c) cpu::scatter_runs(out.get() + c * TP, runs, to_dx, T(0), dx + (g * Cg + c) * xs[1]);
    }
  });
}

template void conv2d_dgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
