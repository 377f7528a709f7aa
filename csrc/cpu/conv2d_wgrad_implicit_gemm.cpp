// conv2d backward-weight, on the reduction GEMM (ukernels/gemm_nt.h).
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride_h - pad_h + r*dil_h, ...]
// Per chunk of kChunkPixels output pixels of the batch: gather the patch rows j = (c, r, s) and the
// dy rows k, both contiguous along the pixels, and reduce them against each other with gemm_nt.
//
// Determinism: the reduction is cut into parts of kPartPixels pixels, a partition fixed by the
// problem alone (never by the thread count). A task owns (part, group, block of j), sums its
// part's chunks in order into a private partial, and a second pass adds the parts in order. Every
// dw element is thus the same sum in the same order for any thread count: no atomics.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/gemm_nt.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t kPartPixels = 2048;  // reduction length of one part
constexpr int64_t kMaxParts = 64;
constexpr int64_t kBlock = 64;         // patch rows j and dy rows k per gemm_nt call (multiples of 4)

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
}  // namespace

namespace {

enum class WgradForm {
  direct_few_channels,
  direct_planar,
  planar_1x1,
  planar_indirect_gemm,
  strided_1x1_channels_last,
  channels_last,
  channels_last_copies,
  patch_rows
};

WgradForm pick_form(const Conv2dParams& p) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group(), RS = p.R * p.S;
  // Direct only while all taps of a filter block fit the kernel's registers at once or nearly: on a
  // 7x7 RGB stem (147 taps, dy streamed 13 times) the patch-row GEMM below measured 1.3x faster.
  if (conv2d_direct_few_channels_applies(p) && RS * Cg <= 27) return WgradForm::direct_few_channels;
  if (conv2d_wgrad_direct_planar_applies(p)) return WgradForm::direct_planar;
  // Unit-stride 1x1 filters on planar x and dy: the reduction GEMM reads both in place.
  if (conv2d_wgrad_1x1_planar_applies(p)) return WgradForm::planar_1x1;
  if (conv2d_wgrad_planar_indirect_gemm_applies(p)) return WgradForm::planar_indirect_gemm;
  if (conv2d_wgrad_1x1_channels_last_applies(p)) return WgradForm::strided_1x1_channels_last;
  if (conv2d_wgrad_channels_last_applies(p)) return WgradForm::channels_last;
  // Planar x with enough channels for the GEMM kernels' blocks: the patch-row reduction measured
  // slowest of the three forms on every such 3x3 layer, one thread, interleaved, dw + db
  // (8x64x56x56 -> 64: 26.1 ms, planar indirect GEMM 24.1, channels-last copies 24.9; 8x128x28x28:
  // 32.5, 25.1, 26.1; 8x256x14x14: 24.2, 22.7, 21.4; 16x128x12x12: 10.0, 8.7, 8.3). The indirect GEMM
  // reads the rows of a padded planar copy of x in place, so it wins while one or two blocks of 64
  // filters reread them over rows of 16 pixels or more; otherwise x and dy go to channels-last once
  // (the deep layers of a ResNet at 7x7 or 4x4: 8x512x4x4 33 -> 25 ms, 64x64x5x5 1.8 -> 1.2 ms).
  if (Cg >= 8 && Kg >= 16 && RS > 1) {
    if (G == 1 && p.stride_w == 1 && p.Q >= 8 && (p.K <= cpu::kIgemmCols || (p.K <= 2 * cpu::kIgemmCols && p.Q >= 16)))
      return WgradForm::planar_indirect_gemm;
    return WgradForm::channels_last_copies;
  }
  return WgradForm::patch_rows;
}

}  // namespace

bool conv2d_wgrad_implicit_gemm_reads_channels_last_dy(const Conv2dParams& p) {
  Conv2dParams q = p;  // the same form for dy with contiguous channels: the same sums
  cpu::channels_last_strides(p.K, p.P, p.Q, q.y_strides);
  if (pick_form(q) != pick_form(p)) return false;
  switch (pick_form(p)) {
    case WgradForm::planar_indirect_gemm: return p.K == cpu::kIgemmCols;  // dy is the kernel's B in place
    case WgradForm::channels_last:
    case WgradForm::channels_last_copies: return true;
    default: return false;
  }
}

template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Cg * RS, NPQ = p.N * p.P * p.Q;
  if (p.K == 0 || J == 0) return;
  switch (pick_form(p)) {
    case WgradForm::direct_few_channels: return conv2d_wgrad_direct_few_channels(p, dy, x, dw);
    case WgradForm::direct_planar: return conv2d_wgrad_direct_planar(p, dy, x, dw);
    case WgradForm::planar_1x1: return conv2d_wgrad_1x1_planar(p, dy, x, dw);
    case WgradForm::planar_indirect_gemm: return conv2d_wgrad_planar_indirect_gemm(p, dy, x, dw);
    case WgradForm::strided_1x1_channels_last: return conv2d_wgrad_1x1_channels_last(p, dy, x, dw);
    case WgradForm::channels_last: return conv2d_wgrad_channels_last(p, dy, x, dw);
    case WgradForm::channels_last_copies: {
      Conv2dParams q = p;
      const auto xt = cpu::scratch<T>(p.N * p.H * p.W * p.C);
      cpu::copy_to_channels_last(x, p.N, p.C, p.H, p.W, p.x_strides, xt.get());
      cpu::channels_last_strides(p.C, p.H, p.W, q.x_strides);
      if (p.y_strides[1] == 1) return conv2d_wgrad_channels_last(q, dy, xt.get(), dw);
      const auto dyt = cpu::scratch<T>(NPQ * p.K);
      cpu::copy_to_channels_last(dy, p.N, p.K, p.P, p.Q, p.y_strides, dyt.get());
      cpu::channels_last_strides(p.K, p.P, p.Q, q.y_strides);
      return conv2d_wgrad_channels_last(q, dyt.get(), xt.get(), dw);
    }
    case WgradForm::patch_rows: break;
  }

  // Reduction chunks of one gemm_nt call: shorter when many dy rows must stay in cache at once.
  const int64_t chunk = Kg > 128 ? 512 : 1024;
  const int64_t part_pixels = std::max(kPartPixels, round_up(cpu::ceil_div(NPQ, kMaxParts), chunk));
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(NPQ, part_pixels));
  // A task owns (part, group, range of j); ranges only give every thread work: they change no sum.
  int64_t j_range = round_up(J, kBlock);
  const int64_t want_tasks = 4 * static_cast<int64_t>(get_num_threads());
  while (parts * G * cpu::ceil_div(J, j_range) < want_tasks && j_range > 2 * cpu::kNtRows)
    j_range = round_up(j_range / 2, cpu::kNtRows);
  const int64_t j_ranges = cpu::ceil_div(J, j_range);
  const int64_t Kg4 = round_up(Kg, cpu::kNtRows);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // partial[part][g][j][k]: each part's sum.
  const auto partial = cpu::scratch<T>(parts * G * J * Kg);

  parallel_for(0, parts * G * j_ranges, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> a(static_cast<size_t>(kBlock * chunk)), bt(static_cast<size_t>(Kg4 * chunk));
    std::vector<T> sum(static_cast<size_t>(kBlock * kBlock)), acc(static_cast<size_t>(j_range * Kg));
    std::vector<cpu::PixelRun> runs;
    const cpu::OutMap from_dy{1, 0, 1, 0, ys[0], ys[2], ys[3]};
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t jr = task % j_ranges, g = (task / j_ranges) % G, part = task / (j_ranges * G);
      const int64_t j_lo = jr * j_range, j_hi = std::min(J, j_lo + j_range);
      const int64_t part_end = std::min(NPQ, (part + 1) * part_pixels);
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(a.begin(), a.end(), T(0));    // rows past a block's end stay zero
      std::fill(bt.begin(), bt.end(), T(0));  // rows past Kg stay zero
      for (int64_t pix0 = part * part_pixels; pix0 < part_end; pix0 += chunk) {
        const int64_t count = std::min(chunk, part_end - pix0);
        const int64_t width = round_up(count, cpu::kNtLanes);
        cpu::split_runs(pix0, count, p.P, p.Q, runs);
        // dy rows of the group, contiguous along the chunk's pixels.
        const int64_t step = from_dy.step();
        for (int64_t k = 0; k < Kg; ++k) {
          T* row = bt.data() + k * chunk;
          const T* dyk = dy + (g * Kg + k) * ys[1];
          for (const cpu::PixelRun& run : runs) {
            const T* src = dyk + from_dy.run_start(run);
            for (int64_t i = 0; i < run.len; ++i) row[run.t0 + i] = src[i * step];
          }
          std::fill(row + count, row + width, T(0));
        }
        for (int64_t j0 = j_lo; j0 < j_hi; j0 += kBlock) {
          const int64_t nj = std::min(kBlock, j_hi - j0), nj4 = round_up(nj, cpu::kNtRows);
          for (int64_t jj = 0; jj < nj; ++jj) {
            const int64_t j = j0 + jj, c = j / RS, r = (j / p.S) % p.R, s = j % p.S;
            const cpu::TapMap tap{p.stride_h, r * p.dilation_h - p.pad_h, p.stride_w, s * p.dilation_w - p.pad_w,
                                  p.H, p.W, xs[0], xs[2], xs[3]};
            cpu::gather_tap(x + (g * Cg + c) * xs[1], runs, width, tap, a.data() + jj * chunk);
          }
          for (int64_t jj = nj; jj < nj4; ++jj) std::fill(a.data() + jj * chunk, a.data() + jj * chunk + width, T(0));
          for (int64_t k0 = 0; k0 < Kg; k0 += kBlock) {
            const int64_t nk = std::min(kBlock, Kg - k0), nk4 = round_up(nk, cpu::kNtRows);
            cpu::gemm_nt(nj4, nk4, width, a.data(), chunk, bt.data() + k0 * chunk, chunk, sum.data(), kBlock);
            for (int64_t jj = 0; jj < nj; ++jj)
              for (int64_t k = 0; k < nk; ++k) acc[(j0 - j_lo + jj) * Kg + k0 + k] += sum[jj * kBlock + k];
          }
        }
      }
      T* out = partial.get() + ((part * G + g) * J + j_lo) * Kg;
      std::copy(acc.begin(), acc.begin() + (j_hi - j_lo) * Kg, out);
    }
  });

  // dw = the parts' sums added in part order (column j's place in dw computed once).
  std::vector<int64_t> at_dw(J);
  for (int64_t j = 0; j < J; ++j)
    at_dw[j] = (j / RS) * p.w_strides[1] + ((j / p.S) % p.R) * p.w_strides[2] + (j % p.S) * p.w_strides[3];
  const int64_t part_stride = G * J * Kg;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      const T* first = partial.get() + g * J * Kg + k;
      T* dwk = dw + kk * p.w_strides[0];
      for (int64_t j = 0; j < J; ++j) {
        T total = first[j * Kg];
        for (int64_t part = 1; part < parts; ++part) total += first[part * part_stride + j * Kg];
        dwk[at_dw[j]] = total;
      }
    }
  });
}

template void conv2d_wgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
