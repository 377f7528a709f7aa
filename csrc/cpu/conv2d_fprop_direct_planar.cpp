// conv2d forward with few input channels into planar output (NCHW), on the planar direct kernels
// (ukernels/conv_direct_planar.h).
//   x: (N, C, H, W) any strides, C <= 4   w: (K, C, R, S)   b: (K,) or null   y: (N, K, P, Q), Q contiguous
// An RGB stem (C = 3, 7x7, stride 2) has 147 taps per output: pixels in the vector lanes and one
// broadcast filter value per tap and output channel give whole NCHW output rows straight from the
// registers, where the channels-last direct kernel would need a transpose of every output.
// Per task (image, block of output rows): the input rows the block reads are copied with their
// padding into a buffer split by column phase ((stride_w) interleaved sub-rows: padded column
// j * stride_w + phase sits at [phase][j]), so that each tap (c, r, s) of an output row is one
// contiguous run of the buffer: phase (s * dilation_w) % stride_w from column (s * dilation_w) / stride_w.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {

namespace {
constexpr int64_t kTaskPixels = 2048;  // output pixels per task, at least one row

// The buffer of one task: C planes of `rows` padded input rows, each row stride_w phases of
// `phase_len` values (the columns a row of Q outputs reads, then kPlanarPad of slack for the
// kernel's whole-vector reads).
struct PhaseRows {
  int64_t cols, phase_len, row_len;
  explicit PhaseRows(const Conv2dParams& p)
      : cols(p.Q + (p.S - 1) * p.dilation_w / p.stride_w),
        phase_len(cols + cpu::kPlanarPad),
        row_len(p.stride_w * phase_len) {}

  // Padded input rows hp0 .. hp0 + rows of image n, channel-major, zeros in the padding.
  template <typename T>
  void load(const Conv2dParams& p, const T* x, int64_t n, int64_t hp0, int64_t rows, T* buf) const {
    const int64_t* xs = p.x_strides;
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t h = hp0 + i - p.pad_h;
        T* row = buf + (c * rows + i) * row_len;
        if (h < 0 || h >= p.H) {
          std::fill(row, row + row_len, T(0));
          continue;
        }
        const T* src = x + n * xs[0] + c * xs[1] + h * xs[2];
        for (int64_t ph = 0; ph < p.stride_w; ++ph) {
          T* dst = row + ph * phase_len;
          // Padded column j * stride_w + ph is input column w = j * stride_w + ph - pad_w.
          const int64_t w0 = ph - p.pad_w;
          const int64_t j_lo = std::min(cols, std::max<int64_t>(0, cpu::ceil_div(-w0, p.stride_w)));
          const int64_t j_hi = std::max(j_lo, std::min(cols, cpu::ceil_div(p.W - w0, p.stride_w)));
          std::fill(dst, dst + j_lo, T(0));
          const T* s = src + (j_lo * p.stride_w + w0) * xs[3];
          const int64_t step = p.stride_w * xs[3];
          for (int64_t j = j_lo; j < j_hi; ++j, s += step) dst[j] = *s;
          std::fill(dst + j_hi, dst + phase_len, T(0));
        }
      }
  }
};
}  // namespace

bool conv2d_fprop_direct_planar_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.C >= 1 && p.C <= 4 && p.y_strides[3] == 1;
}

template <typename T>
void conv2d_fprop_direct_planar(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  constexpr int64_t NB = cpu::kPlanarCols;
  const int64_t taps = p.C * p.R * p.S, k_blocks = cpu::ceil_div(p.K, NB);
  if (p.N == 0 || p.K == 0 || p.P == 0 || p.Q == 0) return;
  const PhaseRows layout(p);

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
  parallel_for(0, p.N * blocks, 1, [&](int64_t lo, int64_t hi) {
    const auto buf = cpu::scratch<T>(p.C * max_rows * layout.row_len);
    std::vector<int64_t> x_at(static_cast<size_t>(taps));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / blocks, p0 = (task % blocks) * block_rows, count = std::min(block_rows, p.P - p0);
      const int64_t rows = (count - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
      layout.load(p, x, n, p0 * p.stride_h, rows, buf.get());
      for (int64_t c = 0, t = 0; c < p.C; ++c)
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s, ++t)
            x_at[t] = (c * rows + r * p.dilation_h) * layout.row_len +
                      (s * p.dilation_w) % p.stride_w * layout.phase_len + (s * p.dilation_w) / p.stride_w;
      for (int64_t i = 0; i < count; ++i) {
        const T* xr = buf.get() + i * p.stride_h * layout.row_len;
        T* yr = y + n * ys[0] + (p0 + i) * ys[2];
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          cpu::selected::conv_direct_planar(p.Q, std::min(NB, p.K - kb * NB), taps, x_at.data(), xr,
                                            wp.data() + kb * taps * NB, bias.data() + kb * NB, yr + kb * NB * ys[1],
                                            ys[1]);
      }
    }
  });
}

template void conv2d_fprop_direct_planar<float>(const Conv2dParams&, const float*, const float*, const float*,
                                                float*);
template void conv2d_fprop_direct_planar<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                 double*);

}  // namespace fastconv
