// conv2d backward-data: the transpose of fprop's implicit GEMM, written as a gather so that every
// dx element is produced by exactly one task (no scatter races, deterministic).
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

namespace fastconv {

namespace {

// The taps (0 <= r < R) that reach input coordinates congruent to `phase` modulo `stride`.
std::vector<int64_t> phase_taps(int64_t phase, int64_t R, int64_t stride, int64_t pad, int64_t dilation) {
  std::vector<int64_t> taps;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t m = ((phase + pad - r * dilation) % stride + stride) % stride;
    if (m == 0) taps.push_back(r);
  }
  return taps;
}

struct Phase {
  int64_t a = 0, b = 0;          // h = a + i * stride_h, v = b + j * stride_w
  int64_t rows = 0, cols = 0;    // sub-grid extent
  std::vector<int64_t> r, s;     // taps reaching it
  int64_t J = 0;                 // K/G * |r| * |s|
  int64_t tiles = 0;             // over N * rows * cols
  int64_t weight_offset = 0;     // of its packed weights, per group
};

}  // namespace

// Stride > 1 as one stride-1 forward pass per phase: the taps reaching phase (a, b) are evenly
// spaced (r0, r0 + d, ...) with d = stride / gcd(stride, dilation), and read dy at rows
// i + (a + pad - r * dilation) / stride: a correlation of dy with the rotated sub-filter, dilation
// dilation / gcd, written to the phase's sub-grid of dx. Runs on the forward's indirect GEMM, with dy
// copied to channels-last once if it is not already.
template <typename T>
void dgrad_phases_by_forward(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  std::vector<T> dyt;
  const T* dyl = dy;
  int64_t ys[4] = {p.y_strides[0], p.y_strides[1], p.y_strides[2], p.y_strides[3]};
  if (ys[1] != 1) {
    dyt.resize(static_cast<size_t>(p.N * p.K * p.P * p.Q));
    cpu::copy_to_channels_last(dy, p.N, p.K, p.P, p.Q, p.y_strides, dyt.data());
    cpu::channels_last_strides(p.K, p.P, p.Q, ys);
    dyl = dyt.data();
  }
  const int64_t* xs = p.x_strides;
  for (int64_t a = 0; a < std::min(p.stride_h, p.H); ++a)
    for (int64_t b = 0; b < std::min(p.stride_w, p.W); ++b) {
      const std::vector<int64_t> rs = phase_taps(a, p.R, p.stride_h, p.pad_h, p.dilation_h);
      const std::vector<int64_t> ss = phase_taps(b, p.S, p.stride_w, p.pad_w, p.dilation_w);
      const int64_t rows = cpu::ceil_div(p.H - a, p.stride_h), cols = cpu::ceil_div(p.W - b, p.stride_w);
      // Offsets into dy of the last (largest) taps: the rotated filter's first taps.
      const int64_t oh = rs.empty() ? 0 : (a + p.pad_h - rs.back() * p.dilation_h) / p.stride_h;
      const int64_t ow = ss.empty() ? 0 : (b + p.pad_w - ss.back() * p.dilation_w) / p.stride_w;
      const int64_t skip_h = std::max<int64_t>(0, oh), skip_w = std::max<int64_t>(0, ow);
      if (rs.empty() || ss.empty() || p.P - skip_h <= 0 || p.Q - skip_w <= 0) {
        // No tap reaches this phase (or only padding): zero fill.
        for (int64_t n = 0; n < p.N; ++n)
          for (int64_t c = 0; c < p.C; ++c)
            for (int64_t i = 0; i < rows; ++i)
              for (int64_t j = 0; j < cols; ++j)
                dx[n * xs[0] + c * xs[1] + (a + i * p.stride_h) * xs[2] + (b + j * p.stride_w) * xs[3]] = T(0);
        continue;
      }
      const int64_t dr = rs.size() > 1 ? rs[1] - rs[0] : 1, ds = ss.size() > 1 ? ss[1] - ss[0] : 1;
      Conv2dParams q;
      q.N = p.N, q.C = Kg, q.H = p.P - skip_h, q.W = p.Q - skip_w;
      q.K = Cg, q.R = static_cast<int64_t>(rs.size()), q.S = static_cast<int64_t>(ss.size());
      q.P = rows, q.Q = cols, q.groups = 1;
      q.pad_h = std::max<int64_t>(0, -oh), q.pad_w = std::max<int64_t>(0, -ow);
      q.dilation_h = dr * p.dilation_h / p.stride_h, q.dilation_w = ds * p.dilation_w / p.stride_w;
      for (int i = 0; i < 4; ++i) q.x_strides[i] = ys[i];
      q.y_strides[0] = xs[0], q.y_strides[1] = xs[1], q.y_strides[2] = p.stride_h * xs[2];
      q.y_strides[3] = p.stride_w * xs[3];
      // w'[c, k, r', s'] = w[k, c, rs.back() - r' * dr, ss.back() - s' * ds]
      q.w_strides[0] = p.w_strides[1], q.w_strides[1] = p.w_strides[0];
      q.w_strides[2] = -dr * p.w_strides[2], q.w_strides[3] = -ds * p.w_strides[3];
      for (int64_t g = 0; g < G; ++g)
        conv2d_fprop_implicit_gemm<T>(
            q, dyl + g * Kg * ys[1] + skip_h * ys[2] + skip_w * ys[3],
            w + g * Kg * p.w_strides[0] + rs.back() * p.w_strides[2] + ss.back() * p.w_strides[3], nullptr,
            dx + g * Cg * xs[1] + a * xs[2] + b * xs[3]);
    }
}

template <typename T>
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  // Fewer input channels than a GEMM panel has rows: the col2im form does far less gathering.
  // One task per image: used only where a batch gives the threads work (a fixed rule, not the thread
  // count, picks it, so results do not depend on the number of threads).
  if (Cg < cpu::kPanelRows && p.N >= 4) return conv2d_dgrad_col2im(p, dy, w, dx);
  // Stride 1: the gradient is the forward correlation of dy with the filters rotated by 180 degrees,
  // channels swapped, padded by dilation * (R - 1) - pad; where the forward's indirect GEMM pays off
  // (the same rule as in conv2d_fprop_implicit_gemm), run it, one group at a time.
  const int64_t pad_h2 = p.dilation_h * (p.R - 1) - p.pad_h, pad_w2 = p.dilation_w * (p.S - 1) - p.pad_w;
  if (p.stride_h == 1 && p.stride_w == 1 && pad_h2 >= 0 && pad_w2 >= 0 &&
      (p.y_strides[1] == 1 || (Kg >= 16 && p.R * p.S > 1))) {
    Conv2dParams q;
    q.N = p.N, q.C = Kg, q.H = p.P, q.W = p.Q, q.K = Cg, q.R = p.R, q.S = p.S, q.P = p.H, q.Q = p.W;
    q.groups = 1;
    q.pad_h = pad_h2, q.pad_w = pad_w2;
    q.dilation_h = p.dilation_h, q.dilation_w = p.dilation_w;
    for (int i = 0; i < 4; ++i) q.x_strides[i] = p.y_strides[i], q.y_strides[i] = p.x_strides[i];
    // w'[c, k, r, s] = w[k, c, R - 1 - r, S - 1 - s]
    q.w_strides[0] = p.w_strides[1], q.w_strides[1] = p.w_strides[0];
    q.w_strides[2] = -p.w_strides[2], q.w_strides[3] = -p.w_strides[3];
    for (int64_t g = 0; g < G; ++g)
      conv2d_fprop_implicit_gemm<T>(q, dy + g * Kg * p.y_strides[1],
                                    w + g * Kg * p.w_strides[0] + (p.R - 1) * p.w_strides[2] + (p.S - 1) * p.w_strides[3],
                                    nullptr, dx + g * Cg * p.x_strides[1]);
    return;
  }
  if ((p.stride_h > 1 || p.stride_w > 1) && (p.y_strides[1] == 1 || (Kg >= 16 && p.R * p.S > 1)))
    return dgrad_phases_by_forward(p, dy, w, dx);
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
      ph.r = phase_taps(a, p.R, p.stride_h, p.pad_h, p.dilation_h);
      ph.s = phase_taps(b, p.S, p.stride_w, p.pad_w, p.dilation_w);
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
      const int64_t nr = ph.r.size(), ns = ph.s.size();
      if (ph.J == 0) continue;
      cpu::pack_panels<T>(Cg, ph.J, [&](int64_t c, int64_t j) {
        const int64_t k = j / (nr * ns), r = ph.r[(j / ns) % nr], s = ph.s[j % ns];
        return w[(g * Kg + k) * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
      }, wt.data() + g * weights_per_group + ph.weight_offset);
    }

  // Tasks: for each group, the phases' tiles one after another.
  std::vector<int64_t> first_tile{0};
  for (const Phase& ph : phases) first_tile.push_back(first_tile.back() + ph.tiles);
  const int64_t tiles_per_group = first_tile.back();

  parallel_for(0, G * tiles_per_group, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> gathered(static_cast<size_t>(max_J * TP));
    std::vector<T> out(static_cast<size_t>(Cg * TP));
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
        std::fill(out.begin(), out.end(), T(0));
      } else {
        for (int64_t k = 0; k < Kg; ++k) {
          const T* dyk = dy + (g * Kg + k) * ys[1];
          for (int64_t ir = 0; ir < nr; ++ir)
            for (int64_t is = 0; is < ns; ++is) {
              const cpu::TapMap tap{1, (ph.a + p.pad_h - ph.r[ir] * p.dilation_h) / p.stride_h, 1,
                                    (ph.b + p.pad_w - ph.s[is] * p.dilation_w) / p.stride_w, p.P, p.Q, ys[0], ys[2],
                                    ys[3]};
              cpu::gather_tap(dyk, runs, TP, tap, gathered.data() + ((k * nr + ir) * ns + is) * TP);
            }
        }
        cpu::gemm_tile(Cg, ph.J, wt.data() + g * weights_per_group + ph.weight_offset, gathered.data(), out.data());
      }
      const cpu::OutMap to_dx{p.stride_h, ph.a, p.stride_w, ph.b, xs[0], xs[2], xs[3]};
      for (int64_t c = 0; c < Cg; ++c) cpu::scatter_runs(out.data() + c * TP, runs, to_dx, T(0), dx + (g * Cg + c) * xs[1]);
    }
  });
}

template void conv2d_dgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
