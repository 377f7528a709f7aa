// conv2d backward-weight with few input channels from channels-last dy, on the direct kernels
// (ukernels/conv_direct.h).
//   dy: (N, K, P, Q), K contiguous   x: (N, C, H, W) any strides, C <= 4   dw: (K, C, R, S)
// dw[k, (r, s, c)] = sum over output pixels of x[tap (r, s, c) of the pixel] * dy[pixel, k]: all
// R * S * C taps of a block of 32 filters stay in registers while the kernel streams the pixels once.
//
// Determinism: the output rows of the batch are cut into parts fixed by the problem alone (never by
// the thread count). A task sums its part's rows in order (one kernel call per image the part
// touches, added in order) into the part's partial, and the parts are added in order at the end.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_direct_few_channels.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "ukernels/conv_direct.h"

namespace fastconv {

namespace {
constexpr int64_t kPartPixels = 1024;  // reduction length of one part, at least one output row
constexpr int64_t kMaxParts = 64;
}  // namespace

template <typename T>
void conv2d_wgrad_direct_few_channels(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  constexpr int64_t NB = cpu::kDirectCols;
  const int64_t taps = p.R * p.S * p.C, k_blocks = cpu::ceil_div(p.K, NB), NP = p.N * p.P;
  if (p.K == 0 || p.C == 0) return;
  const cpu::FewChannelRows rows(p);
  const int64_t part_rows = std::max(cpu::ceil_div(kPartPixels, std::max<int64_t>(p.Q, 1)), cpu::ceil_div(NP, kMaxParts));
  const int64_t parts = cpu::ceil_div(NP, part_rows);
  const int64_t block_size = taps * NB;
  // partial[part][kb][(r, s, c)][32]
  std::vector<T> partial(static_cast<size_t>(std::max<int64_t>(parts, 1) * k_blocks * block_size), T(0));
  const int64_t* ys = p.y_strides;

  parallel_for(0, parts * k_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> buf(static_cast<size_t>(rows.buffer_rows(p, std::min(part_rows, p.P)) * rows.width * p.C));
    std::vector<T> sum(static_cast<size_t>(block_size));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t part = task / k_blocks, kb = task % k_blocks, k0 = kb * NB, nk = std::min(NB, p.K - k0);
      T* acc = partial.data() + task * block_size;
      const int64_t end = std::min(NP, (part + 1) * part_rows);
      bool first = true;
      for (int64_t u = part * part_rows; u < end;) {
        const int64_t n = u / p.P, p0 = u % p.P, count = std::min(p.P - p0, end - u);
        rows.load(p, x, n, p0, count, buf.data());
        cpu::selected::conv_direct_wgrad(count, p.Q, nk, taps, rows.tap_at.data(), buf.data(), rows.row_stride,
                                         rows.pixel_step, dy + n * ys[0] + p0 * ys[2] + k0, ys[2], ys[3],
                                         first ? acc : sum.data());
        if (!first)
          for (int64_t t = 0; t < taps; ++t)
            for (int64_t i = 0; i < nk; ++i) acc[t * NB + i] += sum[t * NB + i];
        first = false;
        u += count;
      }
    }
  });

  for (int64_t k = 0; k < p.K; ++k) {
    const T* first = partial.data() + (k / NB) * block_size + k % NB;
    for (int64_t r = 0, t = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s)
        for (int64_t c = 0; c < p.C; ++c, ++t) {
          T total = first[t * NB];
          for (int64_t part = 1; part < parts; ++part) total += first[part * k_blocks * block_size + t * NB];
          dw[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]] = total;
        }
  }
}

template void conv2d_wgrad_direct_few_channels<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_direct_few_channels<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
