// conv2d forward with few input channels into channels-last output, on the direct kernels
// (ukernels/conv_direct.h).
//   x: (N, C, H, W) any strides, C <= 4   w: (K, C, R, S)   b: (K,) or null   y: (N, K, P, Q), K contiguous
// With R * S * C = 9 (the first layer of a digit classifier), a GEMM's reduction is too short to
// repay gathering patches or building pointer tables; the direct kernel broadcasts each input value
// of a tap against 32 filters and writes finished output rows.
// Per task (image, block of output rows): the rows the block reads are copied with their padding into
// a small dense buffer (conv2d_direct_few_channels.h), then each output row is one kernel call per
// block of 32 output channels.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_direct_few_channels.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "ukernels/conv_direct.h"

namespace fastconv {

namespace {
constexpr int64_t kTaskPixels = 512;  // output pixels per task, at least one row
}  // namespace

bool conv2d_direct_few_channels_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.C >= 1 && p.C <= 4 && p.y_strides[1] == 1;
}

template <typename T>
void conv2d_fprop_direct_few_channels(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  constexpr int64_t NB = cpu::kDirectCols;
  const int64_t taps = p.R * p.S * p.C, k_blocks = cpu::ceil_div(p.K, NB);
  if (p.N == 0 || p.K == 0 || p.P == 0 || p.Q == 0) return;
  const cpu::FewChannelRows rows(p);

  // wp[kb][(r, s, c)][32] and bias[kb][32], zero past K.
  std::vector<T> wp(static_cast<size_t>(k_blocks * taps * NB), T(0)), bias(static_cast<size_t>(k_blocks * NB), T(0));
  for (int64_t k = 0; k < p.K; ++k) {
    T* dst = wp.data() + (k / NB) * taps * NB + k % NB;
    for (int64_t r = 0, t = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s)
        for (int64_t c = 0; c < p.C; ++c, ++t)
          dst[t * NB] = w[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
    if (b) bias[k] = b[k * p.b_stride];
  }

  const int64_t block_rows = std::clamp<int64_t>(kTaskPixels / p.Q, 1, p.P);
  const int64_t blocks = cpu::ceil_div(p.P, block_rows);
  const int64_t* ys = p.y_strides;
  parallel_for(0, p.N * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> buf(static_cast<size_t>(rows.buffer_rows(p, block_rows) * rows.width * p.C));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / blocks, p0 = (task % blocks) * block_rows, count = std::min(block_rows, p.P - p0);
      rows.load(p, x, n, p0, count, buf.data());
      for (int64_t i = 0; i < count; ++i) {
        const T* xr = buf.data() + i * rows.row_stride;
        T* yr = y + n * ys[0] + (p0 + i) * ys[2];
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          cpu::selected::conv_direct_fprop(p.Q, std::min(NB, p.K - kb * NB), taps, rows.tap_at.data(), xr,
                                           rows.pixel_step, wp.data() + kb * taps * NB, bias.data() + kb * NB,
                                           yr + kb * NB, ys[3]);
      }
    }
  });
}

template void conv2d_fprop_direct_few_channels<float>(const Conv2dParams&, const float*, const float*, const float*,
                                                      float*);
template void conv2d_fprop_direct_few_channels<double>(const Conv2dParams&, const double*, const double*,
                                                       const double*, double*);

}  // namespace fastconv
