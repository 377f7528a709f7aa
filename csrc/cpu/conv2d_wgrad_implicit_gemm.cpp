// conv2d backward-weight, on the tile GEMM.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride_h - pad_h + r*dil_h, ...]
// As a GEMM: rows j = (c, r, s), columns k (a block of kTilePixels output channels), reduction over
// the batch's output pixels in chunks of kChunkPixels. Each task owns a block of dw (group, block of k, block
// of j) and runs the whole reduction in a fixed order (chunk partial sums added in sequence), so
// the result is the same bits for any thread count: no partial sums across threads, no atomics.
#include <vector>

#include "conv2d_tiles.h"
#include "conv2d_algorithms.h"
#include "parallel.h"

namespace fastconv {

namespace {
constexpr int64_t kChunkPixels = 256;                     // reduction length of one GEMM call
constexpr int64_t kRowBlock = 16 * cpu::kPanelRows;       // (c, r, s) rows per task
}  // namespace

template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Cg * RS, PQ = p.P * p.Q;
  if (p.K == 0 || J == 0) return;

  constexpr int64_t KB = cpu::kTilePixels;  // the GEMM's column count serves as the k block
  const int64_t k_blocks = cpu::ceil_div(Kg, KB), j_blocks = cpu::ceil_div(J, kRowBlock);
  const int64_t NPQ = p.N * PQ, chunks = cpu::ceil_div(NPQ, kChunkPixels);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  parallel_for(0, G * k_blocks * j_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> a(static_cast<size_t>(cpu::panel_count(kRowBlock) * cpu::kPanelRows * kChunkPixels));
    std::vector<T> bt(static_cast<size_t>(kChunkPixels * KB));
    std::vector<T> part(static_cast<size_t>(kRowBlock * KB)), acc(static_cast<size_t>(kRowBlock * KB));
    std::vector<T> row(kChunkPixels);
    cpu::TapTable taps;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t jb = task % j_blocks, kb = (task / j_blocks) % k_blocks, g = task / (j_blocks * k_blocks);
      const int64_t j0 = jb * kRowBlock, nj = std::min(kRowBlock, J - j0);
      const int64_t k0 = kb * KB, nk = std::min(KB, Kg - k0);
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t pix0 = chunk * kChunkPixels, count = std::min(kChunkPixels, NPQ - pix0);
        taps.build(p, pix0, count, kChunkPixels, xs, ys);
        // A: patch rows j in GEMM panels, a[(jj / 6) * chunk * 6 + t * 6 + jj % 6].
        for (int64_t jj = 0; jj < nj; ++jj) {
          const int64_t j = j0 + jj, c = j / RS, rs = j % RS;
          cpu::gather_row(x + (g * Cg + c) * xs[1], taps.offset.data() + rs * kChunkPixels,
                          kChunkPixels, row.data());
          T* dst = a.data() + (jj / cpu::kPanelRows) * kChunkPixels * cpu::kPanelRows + jj % cpu::kPanelRows;
          for (int64_t t = 0; t < kChunkPixels; ++t) dst[t * cpu::kPanelRows] = row[t];
        }
        // B: dy transposed, bt[t][k]; zero beyond the chunk and the k block.
        std::fill(bt.begin(), bt.end(), T(0));
        for (int64_t k = 0; k < nk; ++k) {
          const T* dyk = dy + (g * Kg + k0 + k) * ys[1];
          for (int64_t t = 0; t < count; ++t) bt[t * KB + k] = dyk[taps.out_offset[t]];
        }
        cpu::gemm_tile(nj, kChunkPixels, a.data(), bt.data(), part.data());
        for (int64_t i = 0; i < nj * KB; ++i) acc[i] += part[i];
      }
      for (int64_t jj = 0; jj < nj; ++jj) {
        const int64_t j = j0 + jj, c = j / RS, r = (j / p.S) % p.R, s = j % p.S;
        for (int64_t k = 0; k < nk; ++k)
          dw[(g * Kg + k0 + k) * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]] =
              acc[jj * KB + k];
      }
    }
  });
}

template void conv2d_wgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
