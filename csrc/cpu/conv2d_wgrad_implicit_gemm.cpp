// conv2d backward-weight, on the tile GEMM.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride_h - pad_h + r*dil_h, ...]
// As a GEMM: rows j = (c, r, s), columns k (a block of kTilePixels output channels), reduction over
// the batch's output pixels in chunks of kChunkPixels.
//
// Determinism: the reduction is cut into parts of kPartPixels pixels, a partition fixed by the
// problem alone (never by the thread count). A task owns (part, group, k block, j block), sums its
// part's chunks in order into a private partial, and a second pass adds the parts in order. Every
// dw element is thus the same sum in the same order for any thread count: no atomics.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"

namespace fastconv {

namespace {
constexpr int64_t kChunkPixels = 256;   // reduction length of one GEMM call
constexpr int64_t kPartPixels = 4096;   // reduction length of one part (a multiple of kChunkPixels)
constexpr int64_t kMaxParts = 32;
constexpr int64_t kMaxRowBlock = 96 * cpu::kPanelRows;  // (c, r, s) rows gathered at once
}  // namespace

template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Cg * RS, NPQ = p.N * p.P * p.Q;
  if (p.K == 0 || J == 0) return;

  constexpr int64_t KB = cpu::kTilePixels;  // the GEMM's column count serves as the k block
  const int64_t k_blocks = cpu::ceil_div(Kg, KB);
  const int64_t part_pixels =
      std::max(kPartPixels, cpu::ceil_div(cpu::ceil_div(NPQ, kMaxParts), kChunkPixels) * kChunkPixels);
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(NPQ, part_pixels));
  // j blocks (whole GEMM panels) bound the gathered patch and give every thread work; they do not
  // change any sum.
  int64_t j_block = std::min(kMaxRowBlock, cpu::panel_count(J) * cpu::kPanelRows);
  const int64_t want_tasks = 4 * static_cast<int64_t>(get_num_threads());
  while (parts * G * cpu::ceil_div(J, j_block) < want_tasks && j_block > 4 * cpu::kPanelRows)
    j_block = cpu::ceil_div(j_block / 2, cpu::kPanelRows) * cpu::kPanelRows;
  const int64_t j_blocks = cpu::ceil_div(J, j_block);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // partial[part][g][kk][j]: each part's sum, k padded to whole blocks.
  const int64_t Kpad = k_blocks * KB;
  std::vector<T> partial(static_cast<size_t>(parts * G * Kpad * J));

  parallel_for(0, parts * G * j_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> a(static_cast<size_t>(cpu::panel_count(j_block) * cpu::kPanelRows * kChunkPixels));
    std::vector<T> bt(static_cast<size_t>(kChunkPixels * KB));
    std::vector<T> sum(static_cast<size_t>(j_block * KB)), acc(static_cast<size_t>(k_blocks * j_block * KB));
    std::vector<T> row(kChunkPixels);
    std::vector<cpu::PixelRun> runs;
    const cpu::OutMap from_dy{1, 0, 1, 0, ys[0], ys[2], ys[3]};
    for (int64_t task = lo; task < hi; ++task) {
      int64_t rest = task;
      const int64_t jb = rest % j_blocks; rest /= j_blocks;
      const int64_t g = rest % G, part = rest / G;
      const int64_t j0 = jb * j_block, nj = std::min(j_block, J - j0);
      const int64_t part_end = std::min(NPQ, (part + 1) * part_pixels);
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t pix0 = part * part_pixels; pix0 < part_end; pix0 += kChunkPixels) {
        const int64_t count = std::min(kChunkPixels, part_end - pix0);
        cpu::split_runs(pix0, count, p.P, p.Q, runs);
        // A: patch rows j in GEMM panels, a[(jj / 6) * chunk * 6 + t * 6 + jj % 6].
        for (int64_t jj = 0; jj < nj; ++jj) {
          const int64_t j = j0 + jj, c = j / RS, r = (j / p.S) % p.R, s = j % p.S;
          const cpu::TapMap tap{p.stride_h, r * p.dilation_h - p.pad_h, p.stride_w, s * p.dilation_w - p.pad_w,
                                p.H, p.W, xs[0], xs[2], xs[3]};
          cpu::gather_tap(x + (g * Cg + c) * xs[1], runs, kChunkPixels, tap, row.data());
          T* dst = a.data() + (jj / cpu::kPanelRows) * kChunkPixels * cpu::kPanelRows + jj % cpu::kPanelRows;
          for (int64_t t = 0; t < kChunkPixels; ++t) dst[t * cpu::kPanelRows] = row[t];
        }
        // Per k block: B = dy transposed, bt[t][k], zero beyond the chunk and the block.
        for (int64_t kb = 0; kb < k_blocks; ++kb) {
          const int64_t k0 = kb * KB, nk = std::min(KB, Kg - k0);
          std::fill(bt.begin(), bt.end(), T(0));
          for (int64_t k = 0; k < nk; ++k) {
            const T* dyk = dy + (g * Kg + k0 + k) * ys[1];
            for (const cpu::PixelRun& run : runs) {
              const T* src = dyk + from_dy.run_start(run);
              for (int64_t i = 0; i < run.len; ++i) bt[(run.t0 + i) * KB + k] = src[i * from_dy.step()];
            }
          }
          cpu::gemm_tile(nj, kChunkPixels, a.data(), bt.data(), sum.data());
          T* acc_k = acc.data() + kb * j_block * KB;
          for (int64_t i = 0; i < nj * KB; ++i) acc_k[i] += sum[i];
        }
      }
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t k0 = kb * KB, nk = std::min(KB, Kg - k0);
        const T* acc_k = acc.data() + kb * j_block * KB;
        T* out = partial.data() + ((part * G + g) * Kpad + k0) * J;
        for (int64_t jj = 0; jj < nj; ++jj)
          for (int64_t k = 0; k < nk; ++k) out[k * J + j0 + jj] = acc_k[jj * KB + k];
      }
    }
  });

  // dw = the parts' sums added in part order.
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      for (int64_t j = 0; j < J; ++j) {
        T total = partial[((0 * G + g) * Kpad + k) * J + j];
        for (int64_t part = 1; part < parts; ++part) total += partial[((part * G + g) * Kpad + k) * J + j];
        const int64_t c = j / RS, r = (j / p.S) % p.R, s = j % p.S;
        dw[kk * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]] = total;
      }
    }
  });
}

template void conv2d_wgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
