// conv2d forward with few input channels into planar output (NCHW), on the planar direct kernels
// (ukernels/conv_direct_planar.h).
//   x: (N, C, H, W) any strides, C <= 4   w: (K, C, R, S)   b: (K,) or null
//   y: (N, K, P, Q), Q contiguous (NCHW) or K contiguous (NHWC: each output row through a transpose)
// An RGB stem (C = 3, 7x7, stride 2) has 147 taps per output: pixels in the vector lanes and one
// broadcast filter value per tap and output channel give whole NCHW output rows straight from the
// registers, where the channels-last direct kernel would need a transpose of every output.
// Per task (image, block of output rows): the input rows the block reads are copied with their
// padding into a buffer split by column phase (conv2d_direct_planar.h), then each output row is one
// kernel call per block of 4 output channels.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_direct_planar.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {

namespace {
constexpr int64_t kTaskPixels = 2048;  // output pixels per task, at least one row

// Outputs of at least this many bytes are stored with non-temporal stores (transpose_16x16_stream):
// four times an L2, they would not stay in cache anyway. The 12.8 MB output of a batch of 4 through
// a 7x7 RGB stem at 224x224: its channels-last stores measured 1.7 -> 0.6 ms alone.
constexpr int64_t kStreamBytes = int64_t(4) << 20;

// y[q * y_strides[3] + k] = rows[k * Q + q] for one output row, channels contiguous in y, in 16 x 16
// blocks (a row's last partial block moves back to end at the row's end, rewriting a few values).
template <typename T>
void store_channels_last(const Conv2dParams& p, const T* rows, T* y, bool stream) {
  constexpr int64_t kB = 16;
  const int64_t step = p.y_strides[3];
  for (int64_t k0 = 0; k0 < p.K; k0 += kB) {
    const int64_t kk = k0 + kB > p.K && p.K >= kB ? p.K - kB : k0;
    for (int64_t q0 = 0; q0 < p.Q; q0 += kB) {
      const int64_t qq = q0 + kB > p.Q && p.Q >= kB ? p.Q - kB : q0;
      if (p.K >= kB && p.Q >= kB) {
        const T* src = rows + kk * p.Q + qq;
        T* dst = y + qq * step + kk;
        if (stream && cpu::transpose_16x16_stream(src, p.Q, dst, step)) continue;
        if (cpu::transpose_16x16(src, p.Q, dst, step)) continue;
      }
      for (int64_t k = kk; k < std::min(p.K, kk + kB); ++k)
        for (int64_t q = qq; q < std::min(p.Q, qq + kB); ++q) y[q * step + k] = rows[k * p.Q + q];
    }
  }
}
}  // namespace

bool conv2d_fprop_direct_planar_applies(const Conv2dParams& p) {
  // Channels-last output only where the filters have many taps (the 147 of a 7x7 RGB stem): there
  // the planar kernel's output rows, transposed, measured faster than the channels-last direct
  // kernel (conv2d_fprop_direct_few_channels.cpp), which keeps short filters.
  return p.groups == 1 && p.C >= 1 && p.C <= 4 && (p.y_strides[3] == 1 || (p.y_strides[1] == 1 && p.C * p.R * p.S > 27));
}

template <typename T>
void conv2d_fprop_direct_planar(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  constexpr int64_t NB = cpu::kPlanarCols;
  const int64_t taps = p.C * p.R * p.S, k_blocks = cpu::ceil_div(p.K, NB);
  if (p.N == 0 || p.K == 0 || p.P == 0 || p.Q == 0) return;
  const cpu::PhaseRows layout(p);

  // wp[kb][(c, r, s)][4] and bias[kb][4], zero past K.
  std::vector<T> wp(static_cast<size_t>(k_blocks * taps * NB), T(0)), bias(static_cast<size_t>(k_blocks * NB), T(0));
  for (int64_t k = 0; k < p.K; ++k) {
    T* dst = wp.data() + (k / NB) * taps * NB + k % NB;
    for (int64_t c = 0, t = 0; c < p.C; ++c)
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s, ++t)
          dst[t * NB] = w[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
    if (b) bias[k] = b[k * p.b_stride];
  }

  const int64_t block_rows = std::clamp<int64_t>(kTaskPixels / p.Q, 1, p.P);
  const int64_t blocks = cpu::ceil_div(p.P, block_rows);
  const int64_t max_rows = (block_rows - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
  const int64_t* ys = p.y_strides;
  const bool planar = ys[3] == 1;
  const bool stream = !planar && p.N * p.P * p.Q * p.K * int64_t(sizeof(T)) >= kStreamBytes;
  parallel_for(0, p.N * blocks, 1, [&](int64_t lo, int64_t hi) {
    const auto buf = cpu::scratch<T>(p.C * max_rows * layout.row_len);
    const auto rows_out = cpu::scratch<T>(planar ? 0 : p.K * p.Q);
    std::vector<int64_t> x_at(static_cast<size_t>(taps));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / blocks, p0 = (task % blocks) * block_rows, count = std::min(block_rows, p.P - p0);
      const int64_t rows = (count - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
      layout.load(p, x, n, p0 * p.stride_h, rows, buf.get());
      for (int64_t c = 0, t = 0; c < p.C; ++c)
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s, ++t) x_at[t] = cpu::phase_rows_tap(p, layout, rows, c, r, s);
      for (int64_t i = 0; i < count; ++i) {
        const T* xr = buf.get() + i * p.stride_h * layout.row_len;
        T* yr = y + n * ys[0] + (p0 + i) * ys[2];
        // Rows go straight to planar output, else to `rows_out` (K rows of Q) and then transposed.
        T* out = planar ? yr : rows_out.get();
        const int64_t plane = planar ? ys[1] : p.Q;
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          cpu::selected::conv_direct_planar(p.Q, std::min(NB, p.K - kb * NB), taps, x_at.data(), xr,
                                            wp.data() + kb * taps * NB, bias.data() + kb * NB, out + kb * NB * plane,
                                            plane);
        if (!planar) store_channels_last(p, rows_out.get(), yr, stream);
      }
    }
    if (stream) cpu::store_fence();
  });
}

template void conv2d_fprop_direct_planar<float>(const Conv2dParams&, const float*, const float*, const float*,
                                                float*);
template void conv2d_fprop_direct_planar<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                 double*);

}  // namespace fastconv
