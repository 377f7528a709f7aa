// conv2d backward-data as forward passes of dy, on the forward's indirect GEMM.
//   dy: (N, K, P, Q)   w: (K, C/G, R, S)   dx: (N, C, H, W)
// At stride 1 the gradient is the correlation of dy with the filters rotated by 180 degrees and
// input and output channels swapped. With stride > 1, input pixels split into stride phases
// (h mod stride_h, v mod stride_w): the taps reaching phase (a, b) are evenly spaced
// (r0, r0 + d, ...) with d = stride / gcd(stride, dilation), and read dy at rows
// i + (a + pad - r * dilation) / stride, so each phase is such a correlation with a rotated
// sub-filter of dilation dilation / gcd, written to the phase's sub-grid of dx; a phase no tap
// reaches is zero. dy is copied to channels-last once if it is not already. Planar dx (NCHW) with
// stride > 1: each phase is written to its own dense planes of a workspace and one pass
// interleaves them into dx, instead of every phase storing to every other value of dx's rows (each
// line of dx read from memory and written back once per phase sharing it, one value at a time).
#include <algorithm>
#include <vector>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"

namespace fastconv {

namespace {

// Zero the phase (a, b) sub-grid of dx, which no tap reaches (3 of the 4 phases of a stride-2 1x1
// layer): rows of the sub-grid in parallel, channels innermost when they are contiguous (NHWC).
template <typename T>
void zero_phase(const Conv2dParams& p, int64_t a, int64_t b, int64_t rows, int64_t cols, T* dx) {
  const int64_t* xs = p.x_strides;
  parallel_for(0, p.N * rows, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      T* row = dx + (t / rows) * xs[0] + (a + (t % rows) * p.stride_h) * xs[2] + b * xs[3];
      if (xs[1] == 1) {
        for (int64_t j = 0; j < cols; ++j) std::fill_n(row + j * p.stride_w * xs[3], p.C, T(0));
      } else {
        for (int64_t c = 0; c < p.C; ++c)
          for (int64_t j = 0; j < cols; ++j) row[c * xs[1] + j * p.stride_w * xs[3]] = T(0);
      }
    }
  });
}

// Stride phases in a workspace: phase (a, b) of image n, channel c is a dense rows x cols plane at
// ph + ((a * stride_w + b) * N * C + n * C + c) * rows * cols (rows, cols: those of phase (0, 0),
// the largest).
struct PhasePlanes {
  int64_t rows, cols;
  explicit PhasePlanes(const Conv2dParams& p) : rows(cpu::ceil_div(p.H, p.stride_h)), cols(cpu::ceil_div(p.W, p.stride_w)) {}
  int64_t size(const Conv2dParams& p) const { return p.stride_h * p.stride_w * p.N * p.C * rows * cols; }
  int64_t phase_offset(const Conv2dParams& p, int64_t a, int64_t b) const { return (a * p.stride_w + b) * p.N * p.C * rows * cols; }
};

// dx[n, c, h, v] = phase (h % stride_h, v % stride_w) at (h / stride_h, v / stride_w), dx rows in
// parallel. Two column phases and unit column stride (stride 2, NCHW): 4 values of each phase
// row interleaved into 8 of dx at a time. zero[a * stride_w + b]: phase (a, b) is all zeros and was
// never written to the workspace (3 of the 4 phases of a stride-2 1x1 layer), so it is not read.
template <typename T>
void interleave_phases(const Conv2dParams& p, const PhasePlanes& pp, const T* ph, const std::vector<char>& zero,
                       T* dx) {
  const int64_t* xs = p.x_strides;
  const int64_t plane = pp.rows * pp.cols;
  parallel_for(0, p.N * p.C * p.H, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t h = t % p.H, nc = t / p.H, n = nc / p.C, c = nc % p.C;
      const int64_t a = h % p.stride_h, i = h / p.stride_h;
      T* row = dx + n * xs[0] + c * xs[1] + h * xs[2];
      const char* zero_b = zero.data() + a * p.stride_w;
      if (std::all_of(zero_b, zero_b + p.stride_w, [](char z) { return z != 0; })) {
        for (int64_t v = 0; v < p.W; ++v) row[v * xs[3]] = T(0);
        continue;
      }
      const T* src = ph + pp.phase_offset(p, a, 0) + nc * plane + i * pp.cols;
      const int64_t phase_stride = pp.phase_offset(p, 0, 1);
      int64_t v = 0;
#if defined(__SSE__)
      if constexpr (std::is_same<T, float>::value) {
        if (p.stride_w == 2 && xs[3] == 1)
          for (; v + 8 <= p.W; v += 8) {
            const __m128 e = zero_b[0] ? _mm_setzero_ps() : _mm_loadu_ps(src + v / 2);
            const __m128 o = zero_b[1] ? _mm_setzero_ps() : _mm_loadu_ps(src + phase_stride + v / 2);
            _mm_storeu_ps(row + v, _mm_unpacklo_ps(e, o));
            _mm_storeu_ps(row + v + 4, _mm_unpackhi_ps(e, o));
          }
      }
#endif
      for (; v < p.W; ++v) {
        const int64_t b = v % p.stride_w;
        row[v * xs[3]] = zero_b[b] ? T(0) : src[b * phase_stride + v / p.stride_w];
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_dgrad_by_forward(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  cpu::Scratch<T> dyt;
  const T* dyl = dy;
  int64_t ys[4] = {p.y_strides[0], p.y_strides[1], p.y_strides[2], p.y_strides[3]};
  if (ys[1] != 1) {
    dyt = cpu::scratch<T>(p.N * p.K * p.P * p.Q);
    cpu::copy_to_channels_last(dy, p.N, p.K, p.P, p.Q, p.y_strides, dyt.get());
    cpu::channels_last_strides(p.K, p.P, p.Q, ys);
    dyl = dyt.get();
  }
  // Planar dx with stride > 1: the phases go to dense planes of `ph`, then interleave into dx.
  const bool via_phase_planes = p.x_strides[1] != 1 && p.stride_h * p.stride_w > 1;
  const PhasePlanes pp(p);
  const auto ph = cpu::scratch<T>(via_phase_planes ? pp.size(p) : 0);
  std::vector<char> zero(static_cast<size_t>(p.stride_h * p.stride_w), 1);  // phases left all zeros
  int64_t xs[4] = {p.x_strides[0], p.x_strides[1], p.x_strides[2], p.x_strides[3]};
  if (via_phase_planes) xs[0] = p.C * pp.rows * pp.cols, xs[1] = pp.rows * pp.cols, xs[2] = pp.cols, xs[3] = 1;
  for (int64_t a = 0; a < std::min(p.stride_h, p.H); ++a)
    for (int64_t b = 0; b < std::min(p.stride_w, p.W); ++b) {
      const std::vector<int64_t> rs = cpu::stride_phase_taps(a, p.R, p.stride_h, p.pad_h, p.dilation_h);
      const std::vector<int64_t> ss = cpu::stride_phase_taps(b, p.S, p.stride_w, p.pad_w, p.dilation_w);
      const int64_t rows = cpu::ceil_div(p.H - a, p.stride_h), cols = cpu::ceil_div(p.W - b, p.stride_w);
      // Offsets into dy of the last (largest) taps: the rotated filter's first taps.
      const int64_t oh = rs.empty() ? 0 : (a + p.pad_h - rs.back() * p.dilation_h) / p.stride_h;
      const int64_t ow = ss.empty() ? 0 : (b + p.pad_w - ss.back() * p.dilation_w) / p.stride_w;
      const int64_t skip_h = std::max<int64_t>(0, oh), skip_w = std::max<int64_t>(0, ow);
      // Phase (a, b) of dx, or its dense planes: pixel (i, j) at i * y_h + j * y_w.
      T* dxp = via_phase_planes ? ph.get() + pp.phase_offset(p, a, b) : dx + a * xs[2] + b * xs[3];
      const int64_t y_h = via_phase_planes ? xs[2] : p.stride_h * xs[2], y_w = via_phase_planes ? 1 : p.stride_w * xs[3];
      if (rs.empty() || ss.empty() || p.P - skip_h <= 0 || p.Q - skip_w <= 0) {
        if (!via_phase_planes) zero_phase(p, a, b, rows, cols, dx);
        continue;
      }
      zero[a * p.stride_w + b] = 0;
      const int64_t dr = rs.size() > 1 ? rs[1] - rs[0] : 1, ds = ss.size() > 1 ? ss[1] - ss[0] : 1;
      Conv2dParams q;
      q.N = p.N, q.C = Kg, q.H = p.P - skip_h, q.W = p.Q - skip_w;
      q.K = Cg, q.R = static_cast<int64_t>(rs.size()), q.S = static_cast<int64_t>(ss.size());
      q.P = rows, q.Q = cols, q.groups = 1;
      q.pad_h = std::max<int64_t>(0, -oh), q.pad_w = std::max<int64_t>(0, -ow);
      q.dilation_h = dr * p.dilation_h / p.stride_h, q.dilation_w = ds * p.dilation_w / p.stride_w;
      for (int i = 0; i < 4; ++i) q.x_strides[i] = ys[i];
      q.y_strides[0] = xs[0], q.y_strides[1] = xs[1], q.y_strides[2] = y_h, q.y_strides[3] = y_w;
      // w'[c, k, r', s'] = w[k, c, rs.back() - r' * dr, ss.back() - s' * ds]
      q.w_strides[0] = p.w_strides[1], q.w_strides[1] = p.w_strides[0];
      q.w_strides[2] = -dr * p.w_strides[2], q.w_strides[3] = -ds * p.w_strides[3];
      for (int64_t g = 0; g < G; ++g)
        conv2d_fprop_implicit_gemm<T>(
            q, dyl + g * Kg * ys[1] + skip_h * ys[2] + skip_w * ys[3],
            w + g * Kg * p.w_strides[0] + rs.back() * p.w_strides[2] + ss.back() * p.w_strides[3], nullptr,
            dxp + g * Cg * xs[1]);
    }
  if (via_phase_planes) interleave_phases(p, pp, ph.get(), zero, dx);
}

template void conv2d_dgrad_by_forward<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_by_forward<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
