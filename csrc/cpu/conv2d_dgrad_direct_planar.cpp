// conv2d backward-data for few input channels (the first layer of an image model), on the planar
// direct kernels (ukernels/conv_direct_planar.h).
//   dy: (N, K, P, Q) any strides   w: (K, C, R, S), C <= 4   dx: (N, C, H, W) any strides
// dx[n, c, h, v] = sum over k, r, s of w[k, c, r, s] * dy[n, k, p, q]
//   where h = p * stride_h - pad_h + r * dilation_h and v = q * stride_w - pad_w + s * dilation_w.
// By stride phases (conv2d_dgrad_implicit_gemm.cpp): the columns v = b + j * stride_w of one input
// row h are reached by the same taps (r, s), and tap s reads dy columns q = o_s + j, a contiguous run.
// So each (row, column phase) is one kernel call: the phase's pixels j in the vector lanes, its C
// channels as the kernel's outputs, the reduction over (k, r, s) with each filter value broadcast.
// With C = 3 and K = 64 a GEMM over output channels would fill 3 of its 64 columns; here every
// multiply is useful.
// Per task (image, block of input rows): the dy rows the block reads are copied, K planes, with zero
// rows and columns around them, so that every tap is one fixed offset from its row's base. Every dx
// element is written by exactly one task in a fixed order: deterministic.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/conv_direct_planar.h"

namespace fastconv {

namespace {
constexpr int64_t kTaskPixels = 4096;  // input pixels (per channel) per task, at least one row

struct ColumnPhase {
  int64_t a = 0, b = 0;        // input rows h = a (mod stride_h), columns v = b + j * stride_w
  int64_t count = 0;           // columns j of the phase
  std::vector<int64_t> x_at;   // tap (k, r, s) -> offset from the row's base in the dy buffer
  int64_t weight_offset = 0;   // of its packed weights [(k, r, s)][kPlanarCols]
};
}  // namespace

bool conv2d_dgrad_direct_planar_applies(const Conv2dParams& p) { return p.groups == 1 && p.C >= 1 && p.C <= 4; }

template <typename T>
void conv2d_dgrad_direct_planar(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  constexpr int64_t NB = cpu::kPlanarCols;
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  const int64_t sh = p.stride_h, sw = p.stride_w;

  // Column range of the dy buffer: q from -left to Q + right, zeros outside [0, Q), then slack
  // for the kernel's whole-vector reads.
  int64_t left = 0, right = 0;
  for (int64_t b = 0; b < std::min(sw, p.W); ++b)
    for (int64_t s : cpu::stride_phase_taps(b, p.S, sw, p.pad_w, p.dilation_w)) {
      const int64_t o = (b + p.pad_w - s * p.dilation_w) / sw, count = cpu::ceil_div(p.W - b, sw);
      left = std::max(left, -o);
      right = std::max(right, o + count - p.Q);
    }
  const int64_t row_len = left + p.Q + right + cpu::kPlanarPad;
  const int64_t block_rows = std::clamp<int64_t>(kTaskPixels / p.W, 1, p.H);
  const int64_t blocks = cpu::ceil_div(p.H, block_rows);
  // dy rows a block reads: p from floor((h0 + pad_h - (R-1) * dilation_h) / stride_h) to
  // floor((h0 + block_rows - 1 + pad_h) / stride_h).
  const int64_t max_rows = (block_rows - 1 + (p.R - 1) * p.dilation_h) / sh + 2;
  const int64_t plane = max_rows * row_len;

  std::vector<ColumnPhase> phases;
  std::vector<T> wt;
  for (int64_t a = 0; a < std::min(sh, p.H); ++a)
    for (int64_t b = 0; b < std::min(sw, p.W); ++b) {
      ColumnPhase ph;
      ph.a = a, ph.b = b, ph.count = cpu::ceil_div(p.W - b, sw);
      ph.weight_offset = static_cast<int64_t>(wt.size());
      const std::vector<int64_t> rs = cpu::stride_phase_taps(a, p.R, sh, p.pad_h, p.dilation_h);
      const std::vector<int64_t> ss = cpu::stride_phase_taps(b, p.S, sw, p.pad_w, p.dilation_w);
      for (int64_t k = 0; k < p.K; ++k)
        for (int64_t r : rs)
          for (int64_t s : ss) {
            // Row offset from the base row (h - a) / stride_h, exact by the choice of taps.
            ph.x_at.push_back(k * plane + (a + p.pad_h - r * p.dilation_h) / sh * row_len +
                              (b + p.pad_w - s * p.dilation_w) / sw + left);
            for (int64_t c = 0; c < NB; ++c)
              wt.push_back(c < p.C ? w[k * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]]
                                   : T(0));
          }
      phases.push_back(std::move(ph));
    }

  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  const int64_t out_plane = cpu::ceil_div(p.W, sw) + cpu::kPlanarPad;
  parallel_for(0, p.N * blocks, 1, [&](int64_t lo, int64_t hi) {
    const auto buf = cpu::scratch<T>(p.K * plane);
    std::vector<T> out(static_cast<size_t>(p.C * out_plane));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / blocks, h0 = (task % blocks) * block_rows, h1 = std::min(p.H, h0 + block_rows);
      const int64_t p_lo = cpu::floor_div(h0 + p.pad_h - (p.R - 1) * p.dilation_h, sh);
      const int64_t rows = cpu::floor_div(h1 - 1 + p.pad_h, sh) - p_lo + 1;
      for (int64_t k = 0; k < p.K; ++k)
        for (int64_t i = 0; i < rows; ++i) {
          T* row = buf.get() + k * plane + i * row_len;
          const int64_t q_row = p_lo + i;
          if (q_row < 0 || q_row >= p.P) {
            std::fill(row, row + row_len, T(0));
            continue;
          }
          std::fill(row, row + left, T(0));
          const T* src = dy + n * ys[0] + k * ys[1] + q_row * ys[2];
          for (int64_t q = 0; q < p.Q; ++q) row[left + q] = src[q * ys[3]];
          std::fill(row + left + p.Q, row + row_len, T(0));
        }
      for (int64_t h = h0; h < h1; ++h) {
        const int64_t a = h % sh;
        const T* base = buf.get() + ((h - a) / sh - p_lo) * row_len;
        for (int64_t b = 0; b < std::min(sw, p.W); ++b) {
          const ColumnPhase& ph = phases[static_cast<size_t>(a * std::min(sw, p.W) + b)];
          cpu::selected::conv_direct_planar(ph.count, p.C, static_cast<int64_t>(ph.x_at.size()), ph.x_at.data(), base,
                                            wt.data() + ph.weight_offset, nullptr, out.data(), out_plane);
          for (int64_t c = 0; c < p.C; ++c) {
            T* dst = dx + n * xs[0] + c * xs[1] + h * xs[2] + b * xs[3];
            const T* src = out.data() + c * out_plane;
            for (int64_t j = 0; j < ph.count; ++j) dst[j * sw * xs[3]] = src[j];
          }
        }
      }
    }
  });
}

template void conv2d_dgrad_direct_planar<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_direct_planar<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
