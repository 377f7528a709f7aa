// conv2d backward-data, depthwise (groups == C, K = C * M), direct, as a gather: every dx element
// is computed by one task, summed over its taps in (r, s, m) order (no scatter, no atomics).
//   dy: (N, K, P, Q)   w: (K, 1, R, S)   dx: (N, C, H, W)
// dx[n, c, h, v] = sum over m, r, s of w[c*M + m, r, s] * dy[n, c*M + m, p, q]
//   where h = p * stride_h - pad_h + r * dilation_h and v = q * stride_w - pad_w + s * dilation_w.
// For a dx row h, tap r contributes when (h + pad_h - r * dilation_h) is a multiple of stride_h.
// Along a row, the dx columns of one phase (v = phi + stride_w * i) see a fixed set of taps s, each
// at dy column q = i + off_s: a stride-1 correlation per phase.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_depthwise.h"
#include "parallel.h"
#include "ukernels/dwconv.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {

using namespace cpu::depthwise;

// dy rows [pa, pb) inside [0, P) that dx rows [h0, h1) draw from.
inline Span source_rows(const Conv2dParams& p, int64_t h0, int64_t h1) {
  const int64_t pa = std::max<int64_t>(0, ceil_div(h0 + p.pad_h - (p.R - 1) * p.dilation_h, p.stride_h));
  const int64_t pb = std::min(p.P, floor_div(h1 - 1 + p.pad_h, p.stride_h) + 1);
  return {pa, std::max(pa, pb)};
}

// dx rows per band so that the band's staged dy rows (rows_fit at most) fit the budget.
inline int64_t dgrad_band(const Conv2dParams& p, int64_t row_elems, int64_t budget) {
  const int64_t rows_fit = std::max<int64_t>(1, budget / std::max<int64_t>(1, row_elems));
  const int64_t band = (rows_fit - 1) * p.stride_h - (p.R - 1) * p.dilation_h + 1;
  return std::max<int64_t>(1, std::min(p.H, band));
}

// dy row of tap r for dx row h, or -1.
inline int64_t source_row(const Conv2dParams& p, int64_t h, int64_t r) {
  const int64_t num = h + p.pad_h - r * p.dilation_h;
  if (num < 0 || num % p.stride_h != 0 || num / p.stride_h >= p.P) return -1;
  return num / p.stride_h;
}

// Column taps of phase phi: offsets off[s] (dy column q = i + off[s]) or valid[s] = false.
struct PhaseTaps {
  std::vector<int64_t> off;
  std::vector<char> valid;
  void build(const Conv2dParams& p, int64_t phi) {
    off.assign(p.S, 0);
    valid.assign(p.S, 0);
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t num = phi + p.pad_w - s * p.dilation_w;
      if (floor_mod(num, p.stride_w) != 0) continue;
      off[s] = floor_div(num, p.stride_w);
      valid[s] = 1;
    }
  }
};

// Planes, 3x3 with unit strides and dilations, one filter per channel, unit-stride rows: the
// flipped filter run forward over dy's rows in place (as fprop_planes_3x3). dx row h, flipped tap
// (r', s') = (2 - r, 2 - s) reads dy row h + pad_h - 2 + r', column v + pad_w - 2 + s'.
template <typename T>
void dgrad_planes_3x3(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t band = std::min<int64_t>(p.H, kDirectBandRows), bands = ceil_div(p.H, band);
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const int64_t col_off[3] = {p.pad_w - 2, p.pad_w - 1, p.pad_w};
  const std::vector<T> zeros(static_cast<size_t>(p.Q), T(0));

  parallel_for(0, p.N * p.C * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(band + 2));
    T wf[9];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bi = task % bands, c = (task / bands) % p.C, n = task / (bands * p.C);
      const int64_t h0 = bi * band, h1 = std::min(p.H, h0 + band);
      const T* dyc = dy + n * ys[0] + c * ys[1];
      for (int64_t u = 0; u < h1 - h0 + 2; ++u) {
        const int64_t pr = h0 + p.pad_h - 2 + u;
        in[u] = pr < 0 || pr >= p.P ? zeros.data() : dyc + pr * ys[2];
      }
      for (int64_t t = 0; t < 9; ++t) wf[8 - t] = w[c * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
      cpu::dwconv_rows_3x3(in.data(), col_off, p.Q, wf, T(0), dx + n * xs[0] + c * xs[1] + h0 * xs[2], xs[2],
                           h1 - h0, p.W);
    }
  });
}

// Planes: task = (n, c, band of dx rows). The band's dy rows of the M channels of c are staged with
// zero rows above and below and zero columns around (Lq in front), so that every tap of a
// (row phase, column phase) class reads a full rectangle: one dwconv_rows call per class covers all
// its rows. Row phase psi: dx rows h0 + psi + stride_h * i, whose valid taps r are those with
// (h + pad_h - r * dilation_h) % stride_h == 0, at dy row (...) / stride_h, one row further per i.
template <typename T>
void dgrad_planes(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t M = p.K / p.C, S = p.S, RS = p.R * p.S, sh = p.stride_h, sw = p.stride_w;
  const int64_t Lq = ceil_div((S - 1) * p.dilation_w, sw);
  const int64_t row_len = Lq + std::max(p.Q, (sw - 1 + p.pad_w) / sw + ceil_div(p.W, sw));
  const int64_t band = dgrad_band(p, M * row_len, kStageBudget);
  const int64_t bands = ceil_div(p.H, band);
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const int64_t col_phases = std::min(sw, p.W);
  // 3x3, stride 1, dilation 1, one channel per group, unit-stride dx rows: dx row h0 + i, flipped tap
  // (r', s') = (2 - r, 2 - s) reads staged dy row i + r' (p_lo = h0 + pad_h - 2), column
  // Lq + pad_w - 2 + s' + v (Lq = 2).
  const bool grid3 = M == 1 && p.R == 3 && S == 3 && sh == 1 && sw == 1 && p.dilation_h == 1 &&
                     p.dilation_w == 1 && xs[3] == 1;
  const int64_t flipped_cols[3] = {Lq + p.pad_w - 2, Lq + p.pad_w - 1, Lq + p.pad_w};
  std::vector<PhaseTaps> cols(col_phases);
  for (int64_t phi = 0; phi < col_phases; ++phi) cols[phi].build(p, phi);

  parallel_for(0, p.N * p.C * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage, wall(M * RS), wv(M * RS), tmp(ceil_div(p.W, sw));
    std::vector<const T*> in(M * RS), in_row(M * RS), stage_rows;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bi = task % bands, c = (task / bands) % p.C, n = task / (bands * p.C);
      const int64_t h0 = bi * band, h1 = std::min(p.H, h0 + band);
      // Staged dy rows p_lo .. p_hi (zero outside [0, P)).
      const int64_t p_lo = floor_div(h0 + p.pad_h - (p.R - 1) * p.dilation_h, sh);
      const int64_t p_hi = floor_div(h1 - 1 + p.pad_h, sh);
      const int64_t prows = p_hi - p_lo + 1;
      stage.resize(static_cast<size_t>(M * prows * row_len));
      for (int64_t m = 0; m < M; ++m) {
        const int64_t k = c * M + m;
        for (int64_t t = 0; t < RS; ++t) wall[m * RS + t] = w[k * ws[0] + (t / S) * ws[2] + (t % S) * ws[3]];
        const T* dyk = dy + n * ys[0] + k * ys[1];
        for (int64_t i = 0; i < prows; ++i) {
          T* dst = stage.data() + (m * prows + i) * row_len;
          const int64_t pr = p_lo + i;
          if (pr < 0 || pr >= p.P) {
            std::fill(dst, dst + row_len, T(0));
            continue;
          }
          const T* src = dyk + pr * ys[2];
          std::fill(dst, dst + Lq, T(0));
          if (ys[3] == 1) std::memcpy(dst + Lq, src, static_cast<size_t>(p.Q) * sizeof(T));
          else for (int64_t q = 0; q < p.Q; ++q) dst[Lq + q] = src[q * ys[3]];
          std::fill(dst + Lq + p.Q, dst + row_len, T(0));
        }
      }
      if (grid3) {  // stride 1, 3x3: the flipped filter over consecutive dy rows, two dx rows per pass
        T wf[9];
        for (int64_t t = 0; t < 9; ++t) wf[t] = wall[8 - t];
        stage_rows.resize(static_cast<size_t>(prows));
        for (int64_t i = 0; i < prows; ++i) stage_rows[i] = stage.data() + i * row_len;
        cpu::dwconv_rows_3x3(stage_rows.data(), flipped_cols, row_len, wf, T(0),
                             dx + n * xs[0] + c * xs[1] + h0 * xs[2], xs[2], h1 - h0, p.W);
        continue;
      }
      for (int64_t psi = 0; psi < std::min(sh, h1 - h0); ++psi) {
        const int64_t ha = h0 + psi, rows = ceil_div(h1 - ha, sh);
        for (int64_t phi = 0; phi < col_phases; ++phi) {
          const PhaseTaps& pt = cols[phi];
          const int64_t count = ceil_div(p.W - phi, sw);
          int64_t nt = 0;
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t num = ha + p.pad_h - r * p.dilation_h;
            if (floor_mod(num, sh) != 0) continue;
            const T* row0 = stage.data() + (floor_div(num, sh) - p_lo) * row_len + Lq;
            for (int64_t s = 0; s < S; ++s)
              for (int64_t m = 0; pt.valid[s] && m < M; ++m, ++nt) {
                in[nt] = row0 + m * prows * row_len + pt.off[s];
                wv[nt] = wall[m * RS + r * S + s];
              }
          }
          T* out = dx + n * xs[0] + c * xs[1] + ha * xs[2] + phi * xs[3];
          if (sw == 1 && xs[3] == 1) {
            cpu::dwconv_rows(nt, in.data(), row_len, wv.data(), T(0), out, sh * xs[2], rows, count);
            continue;
          }
          for (int64_t i = 0; i < rows; ++i) {  // dx columns of this phase are not unit-stride: through tmp
            for (int64_t t = 0; t < nt; ++t) in_row[t] = in[t] + i * row_len;
            cpu::dwconv_rows(nt, in_row.data(), 0, wv.data(), T(0), tmp.data(), 0, 1, count);
            for (int64_t j = 0; j < count; ++j) out[i * sh * xs[2] + j * sw * xs[3]] = tmp[j];
          }
        }
      }
    }
  });
}

// Channels, 3x3 with unit strides and dilations, one filter per channel: the flipped filter run
// forward over dy's rows in place (as fprop_channels_3x3); dx row h, flipped tap (r', s') reads dy
// row h + pad_h - 2 + r', column v + pad_w - 2 + s'.
template <typename T>
void dgrad_channels_3x3(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t C = p.C;
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  std::vector<T> wf(static_cast<size_t>(9 * C));
  for (int64_t t = 0; t < 9; ++t)
    for (int64_t c = 0; c < C; ++c) wf[(8 - t) * C + c] = w[c * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
  const ZeroRow<T> zeros(p.Q, ys[3], C);
  const int64_t band = std::min<int64_t>(p.H, 8), bands = ceil_div(p.H, band);
  const bool stream = cpu::stream_output(p.N * p.H * p.W * C * static_cast<int64_t>(sizeof(T)));  // as fprop

  parallel_for(0, p.N * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(band + 4));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / bands, h0 = (task % bands) * band, h1 = std::min(p.H, h0 + band);
      channels_band_rows(dy, ys[0], ys[2], p.N, p.P, n, h0, h1, p.H, p.pad_h - 2, zeros.row, in.data());
      cpu::dwconv_channels_3x3(in.data(), ys[3], p.pad_w - 2, p.Q, wf.data(), C, nullptr, dx + n * xs[0] + h0 * xs[2],
                               xs[2], xs[3], h1 - h0, p.W, stream);
    }
  });
}

// Channels: task = (n, band of dx rows), all C channels. With M == 1 the taps point straight into
// dy; with M > 1 the band's dy rows are staged split by m (stage[m][p][q][c] = dy[n, c*M + m, p, q])
// so that each (m, r, s) tap is a contiguous channel vector for dx channel c.
template <typename T>
void dgrad_channels(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t C = p.C, K = p.K, M = K / C, S = p.S, RS = p.R * p.S, sw = p.stride_w;
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const bool direct = M == 1;
  std::vector<T> wt(static_cast<size_t>(M * RS * C));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t t = 0; t < RS; ++t)
      for (int64_t c = 0; c < C; ++c)
        wt[(m * RS + t) * C + c] = w[(c * M + m) * ws[0] + (t / S) * ws[2] + (t % S) * ws[3]];
  const int64_t plane_row = p.Q * C;
  const int64_t band = direct ? std::min<int64_t>(p.H, 8) : dgrad_band(p, M * plane_row, 4 * kStageBudget);
  const int64_t bands = ceil_div(p.H, band);

  parallel_for(0, p.N * bands, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage;
    std::vector<const T*> in(M * RS), wts(M * RS);
    std::vector<int64_t> src_row(p.R);
    std::vector<PhaseTaps> phase(std::min(sw, p.W));
    for (int64_t phi = 0; phi < static_cast<int64_t>(phase.size()); ++phi) phase[phi].build(p, phi);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / bands, h0 = (task % bands) * band, h1 = std::min(p.H, h0 + band);
      const T* dyn = dy + n * ys[0];
      const Span src = source_rows(p, h0, h1);
      const int64_t prows = src.hi - src.lo;
      int64_t pix = ys[3];
      if (!direct) {
        stage.resize(static_cast<size_t>(M * prows * plane_row));
        for (int64_t m = 0; m < M; ++m)
          for (int64_t i = 0; i < prows; ++i)
            for (int64_t q = 0; q < p.Q; ++q) {
              const T* s = dyn + (src.lo + i) * ys[2] + q * ys[3] + m;
              T* d = stage.data() + ((m * prows + i) * p.Q + q) * C;
              for (int64_t c = 0; c < C; ++c) d[c] = s[c * M];
            }
        pix = C;
      }
      auto row_ptr = [&](int64_t m, int64_t pr) -> const T* {
        return direct ? dyn + pr * ys[2] : stage.data() + (m * prows + pr - src.lo) * plane_row;
      };
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t r = 0; r < p.R; ++r) src_row[r] = source_row(p, h, r);
        T* dxr = dx + n * xs[0] + h * xs[2];
        if (direct && h + 1 < h1) {  // the next row's newest dy row, and its dx row
          const int64_t pr = source_row(p, h + 1, 0);
          if (pr >= 0) prefetch_row(dyn + pr * ys[2], p.Q * ys[3], 1);
          prefetch_row(dxr + xs[2], p.W * xs[3], 1, true);
        }
        for (int64_t phi = 0; phi < static_cast<int64_t>(phase.size()); ++phi) {
          const PhaseTaps& pt = phase[phi];
          const int64_t count = ceil_div(p.W - phi, sw);
          // Interior: i where every valid tap s reads a dy column inside [0, Q).
          int64_t ia = 0, ib = count;
          for (int64_t s = 0; s < S; ++s)
            if (pt.valid[s]) ia = std::max(ia, -pt.off[s]), ib = std::min(ib, p.Q - pt.off[s]);
          ia = std::min(ia, count);
          ib = std::max(ia, ib);
          T* out = dxr + phi * xs[3];
          const int64_t ops = sw * xs[3];
          if (ib > ia) {
            int64_t nt = 0;
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t s = 0; src_row[r] >= 0 && s < S; ++s)
                for (int64_t m = 0; pt.valid[s] && m < M; ++m, ++nt) {
                  in[nt] = row_ptr(m, src_row[r]) + (ia + pt.off[s]) * pix;
                  wts[nt] = wt.data() + (m * RS + r * S + s) * C;
                }
            cpu::dwconv_channels(nt, in.data(), pix, wts.data(), nullptr, out + ia * ops, ops, ib - ia, C);
          }
          for (int64_t i = 0; i < count; ++i) {
            if (i == ia) i = ib;
            if (i >= count) break;
            int64_t nt = 0;
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t s = 0; src_row[r] >= 0 && s < S; ++s) {
                const int64_t q = i + pt.off[s];
                if (!pt.valid[s] || q < 0 || q >= p.Q) continue;
                for (int64_t m = 0; m < M; ++m, ++nt) {
                  in[nt] = row_ptr(m, src_row[r]) + q * pix;
                  wts[nt] = wt.data() + (m * RS + r * S + s) * C;
                }
              }
            cpu::dwconv_channels(nt, in.data(), 0, wts.data(), nullptr, out + i * ops, ops, 1, C);
          }
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void conv2d_dgrad_depthwise(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  if (use_channels_path<T>(p) && p.K == p.C && p.Q > 0 && planes_3x3_direct(p, nullptr, nullptr))
    dgrad_channels_3x3(p, dy, w, dx);
  else if (use_channels_path<T>(p)) dgrad_channels(p, dy, w, dx);
  else if (p.K == p.C && planes_3x3_direct(p, p.y_strides, p.x_strides)) dgrad_planes_3x3(p, dy, w, dx);
  else dgrad_planes(p, dy, w, dx);
}

template void conv2d_dgrad_depthwise<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_depthwise<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
