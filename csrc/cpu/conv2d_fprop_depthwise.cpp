// conv2d forward, depthwise (groups == C, K = C * M), direct: conv2d_depthwise.h has the two paths.
//   x: (N, C, H, W)   w: (K, 1, R, S)   b: (K,) or null   y: (N, K, P, Q)
// Each output element is computed by one task, summed over taps in (r, s) order.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_depthwise.h"
#include "parallel.h"
#include "ukernels/dwconv.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {

using namespace cpu::depthwise;

// Planes, 3x3 with unit strides and dilations on unit-stride rows: task = (n, c, band of output
// rows); the kernel reads x's rows in place (out-of-range rows point at a row of zeros, padding
// columns are masked off), so x and y each pass through the cache once.
template <typename T>
void fprop_planes_3x3(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t M = p.K / p.C;
  const int64_t band = std::min<int64_t>(p.P, kDirectBandRows), bands = ceil_div(p.P, band);
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const int64_t col_off[3] = {-p.pad_w, 1 - p.pad_w, 2 - p.pad_w};
  const std::vector<T> zeros(static_cast<size_t>(p.W), T(0));

  parallel_for(0, p.N * p.C * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(band + 2));
    T wk[9];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bi = task % bands, c = (task / bands) % p.C, n = task / (bands * p.C);
      const int64_t p0 = bi * band, p1 = std::min(p.P, p0 + band);
      const T* xc = x + n * xs[0] + c * xs[1];
      for (int64_t u = 0; u < p1 - p0 + 2; ++u) {
        const int64_t h = p0 - p.pad_h + u;
        in[u] = h < 0 || h >= p.H ? zeros.data() : xc + h * xs[2];
      }
      for (int64_t m = 0; m < M; ++m) {
        const int64_t k = c * M + m;
        for (int64_t t = 0; t < 9; ++t) wk[t] = w[k * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
        const T bias = b ? b[k * p.b_stride] : T(0);
        cpu::dwconv_rows_3x3(in.data(), col_off, p.W, wk, bias, y + n * ys[0] + k * ys[1] + p0 * ys[2], ys[2],
                             p1 - p0, p.Q);
      }
    }
  });
}

// Planes: task = (n, c, band of output rows). The band's input rows are staged once (PhaseRow) and
// serve all M output channels of c; one dwconv_rows call per output channel covers the band.
template <typename T>
void fprop_planes(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t M = p.K / p.C, S = p.S, RS = p.R * p.S;
  const int64_t sh = p.stride_h, dh = p.dilation_h;
  const PhaseRow row{p.stride_w, p.pad_w, p.Q + (S - 1) * p.dilation_w / p.stride_w};
  const int64_t row_len = row.size();
  const int64_t band = band_rows(p.P, sh, (p.R - 1) * dh, row_len, kStageBudget);
  const int64_t bands = ceil_div(p.P, band);
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  std::vector<int64_t> tap_offset(RS);
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < S; ++s) tap_offset[r * S + s] = r * dh * row_len + row.offset(s * p.dilation_w);
  // 3x3 with consecutive input rows: two output rows per pass share their input rows.
  const bool grid3 = p.R == 3 && S == 3 && sh == 1 && dh == 1;
  const int64_t col_off[3] = {tap_offset[0], tap_offset[1 % RS], tap_offset[2 % RS]};

  parallel_for(0, p.N * p.C * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage, wk(RS), tmp(p.Q);
    std::vector<const T*> in(RS), in_row(RS), stage_rows;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bi = task % bands, c = (task / bands) % p.C, n = task / (bands * p.C);
      const int64_t p0 = bi * band, p1 = std::min(p.P, p0 + band);
      const int64_t rows = (p1 - 1 - p0) * sh + (p.R - 1) * dh + 1;
      stage.resize(static_cast<size_t>(rows * row_len));
      const T* xc = x + n * xs[0] + c * xs[1];
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t h = p0 * sh - p.pad_h + i;
        T* dst = stage.data() + i * row_len;
        if (h < 0 || h >= p.H) std::fill(dst, dst + row_len, T(0));
        else row.fill(xc + h * xs[2], xs[3], p.W, dst);
      }
      for (int64_t t = 0; t < RS; ++t) in[t] = stage.data() + tap_offset[t];
      if (grid3) {
        stage_rows.resize(static_cast<size_t>(rows));
        for (int64_t i = 0; i < rows; ++i) stage_rows[i] = stage.data() + i * row_len;
      }
      for (int64_t m = 0; m < M; ++m) {
        const int64_t k = c * M + m;
        for (int64_t t = 0; t < RS; ++t) wk[t] = w[k * ws[0] + (t / S) * ws[2] + (t % S) * ws[3]];
        const T bias = b ? b[k * p.b_stride] : T(0);
        T* yk = y + n * ys[0] + k * ys[1] + p0 * ys[2];
        if (ys[3] == 1 && grid3) {
          cpu::dwconv_rows_3x3(stage_rows.data(), col_off, row_len, wk.data(), bias, yk, ys[2], p1 - p0, p.Q);
          continue;
        }
        if (ys[3] == 1) {
          cpu::dwconv_rows(RS, in.data(), sh * row_len, wk.data(), bias, yk, ys[2], p1 - p0, p.Q);
          continue;
        }
        for (int64_t i = 0; i < p1 - p0; ++i) {  // output rows not unit-stride: through tmp
          for (int64_t t = 0; t < RS; ++t) in_row[t] = in[t] + i * sh * row_len;
          cpu::dwconv_rows(RS, in_row.data(), 0, wk.data(), bias, tmp.data(), 0, 1, p.Q);
          for (int64_t q = 0; q < p.Q; ++q) yk[i * ys[2] + q * ys[3]] = tmp[q];
        }
      }
    }
  });
}

// Channels, 3x3 with unit strides and dilations, one filter per channel: task = (n, band of output
// rows); dwconv_channels_3x3 reads x's rows in place (rows above and below point at zeros) and
// keeps each input vector in a register for every output of its block.
template <typename T>
void fprop_channels_3x3(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t K = p.K;
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  std::vector<T> wp(static_cast<size_t>(9 * K)), bias(b ? K : 0);
  for (int64_t t = 0; t < 9; ++t)
    for (int64_t k = 0; k < K; ++k) wp[t * K + k] = w[k * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
  for (int64_t k = 0; b && k < K; ++k) bias[k] = b[k * p.b_stride];
  const ZeroRow<T> zeros(p.W, xs[3], K);
  const int64_t band = std::min<int64_t>(p.P, 8), bands = ceil_div(p.P, band);
  // A large y leaves through non-temporal stores: ordinary ones would first read each line of it.
  const bool stream = cpu::stream_output(p.N * p.P * p.Q * K * static_cast<int64_t>(sizeof(T)));

  parallel_for(0, p.N * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(band + 4));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / bands, p0 = (task % bands) * band, p1 = std::min(p.P, p0 + band);
      channels_band_rows(x, xs[0], xs[2], p.N, p.H, n, p0, p1, p.P, -p.pad_h, zeros.row, in.data());
      cpu::dwconv_channels_3x3(in.data(), xs[3], -p.pad_w, p.W, wp.data(), K, b ? bias.data() : nullptr,
                               y + n * ys[0] + p0 * ys[2], ys[2], ys[3], p1 - p0, p.Q, stream);
    }
  });
}

// Channels: task = (n, band of output rows), all K channels. With M == 1 the taps point straight
// into x; with M > 1 the band's input rows are staged with each channel repeated M times, so that
// output channel k finds its input at channel k. Interior pixels go through one dwconv_channels
// call per row; pixels whose taps reach the padding, one call each with only their inside taps.
template <typename T>
void fprop_channels(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t C = p.C, K = p.K, M = K / C, S = p.S, RS = p.R * p.S;
  const int64_t sh = p.stride_h, sw = p.stride_w, dh = p.dilation_h, dw = p.dilation_w;
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const bool direct = M == 1;
  std::vector<T> wp(static_cast<size_t>(RS * K)), bias(b ? K : 0);
  for (int64_t t = 0; t < RS; ++t)
    for (int64_t k = 0; k < K; ++k) wp[t * K + k] = w[k * ws[0] + (t / S) * ws[2] + (t % S) * ws[3]];
  for (int64_t k = 0; b && k < K; ++k) bias[k] = b[k * p.b_stride];
  const T* bptr = b ? bias.data() : nullptr;
  const int64_t row_elems = p.W * K;
  const int64_t band = direct ? std::min<int64_t>(p.P, 8) : band_rows(p.P, sh, (p.R - 1) * dh, row_elems, 4 * kStageBudget);
  const int64_t bands = ceil_div(p.P, band);
  const Span inner = interior_outputs(p);

  parallel_for(0, p.N * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage;
    std::vector<const T*> in(RS), wt(RS), row_ptr(p.R);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / bands, p0 = (task % bands) * band, p1 = std::min(p.P, p0 + band);
      const T* xn = x + n * xs[0];
      int64_t pix = xs[3], h_first = 0;
      if (!direct) {
        h_first = std::max<int64_t>(0, p0 * sh - p.pad_h);
        const int64_t h_end = std::min(p.H, (p1 - 1) * sh - p.pad_h + (p.R - 1) * dh + 1);
        stage.resize(static_cast<size_t>(std::max<int64_t>(0, h_end - h_first) * row_elems));
        for (int64_t h = h_first; h < h_end; ++h)
          for (int64_t v = 0; v < p.W; ++v) {
            const T* src = xn + h * xs[2] + v * xs[3];
            T* dst = stage.data() + ((h - h_first) * p.W + v) * K;
            for (int64_t c = 0; c < C; ++c)
              for (int64_t m = 0; m < M; ++m) dst[c * M + m] = src[c];
          }
        pix = K;
      }
      for (int64_t pp = p0; pp < p1; ++pp) {
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t h = pp * sh - p.pad_h + r * dh;
          row_ptr[r] = h < 0 || h >= p.H ? nullptr
                       : direct          ? xn + h * xs[2]
                                         : stage.data() + (h - h_first) * row_elems;
        }
        T* yr = y + n * ys[0] + pp * ys[2];
        if (direct && pp + 1 < p1) {  // the next row's new input row, and its output row
          const int64_t hn = (pp + 1) * sh - p.pad_h + (p.R - 1) * dh;
          if (hn >= 0 && hn < p.H) prefetch_row(xn + hn * xs[2], p.W * xs[3], 1);
          prefetch_row(yr + ys[2], p.Q * ys[3], 1, true);
        }
        if (inner.hi > inner.lo) {
          int64_t nt = 0;
          for (int64_t r = 0; r < p.R; ++r)
            for (int64_t s = 0; row_ptr[r] && s < S; ++s, ++nt) {
              in[nt] = row_ptr[r] + (inner.lo * sw - p.pad_w + s * dw) * pix;
              wt[nt] = wp.data() + (r * S + s) * K;
            }
          cpu::dwconv_channels(nt, in.data(), sw * pix, wt.data(), bptr, yr + inner.lo * ys[3], ys[3],
                               inner.hi - inner.lo, K);
        }
        for (int64_t q = 0; q < p.Q; ++q) {
          if (q == inner.lo) q = inner.hi;
          if (q >= p.Q) break;
          int64_t nt = 0;
          for (int64_t r = 0; r < p.R; ++r)
            for (int64_t s = 0; row_ptr[r] && s < S; ++s) {
              const int64_t v = q * sw - p.pad_w + s * dw;
              if (v < 0 || v >= p.W) continue;
              in[nt] = row_ptr[r] + v * pix;
              wt[nt++] = wp.data() + (r * S + s) * K;
            }
          cpu::dwconv_channels(nt, in.data(), 0, wt.data(), bptr, yr + q * ys[3], ys[3], 1, K);
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_fprop_depthwise(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  if (p.N == 0 || p.K == 0 || p.P == 0 || p.Q == 0) return;
  if (use_channels_path<T>(p) && p.K == p.C && p.W > 0 && planes_3x3_direct(p, nullptr, nullptr))
    fprop_channels_3x3(p, x, w, b, y);
  else if (use_channels_path<T>(p)) fprop_channels(p, x, w, b, y);
  else if (planes_3x3_direct(p, p.x_strides, p.y_strides)) fprop_planes_3x3(p, x, w, b, y);
  else fprop_planes(p, x, w, b, y);
}

template void conv2d_fprop_depthwise<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_depthwise<double>(const Conv2dParams&, const double*, const double*, const double*,
                                             double*);

}  // namespace fastconv
