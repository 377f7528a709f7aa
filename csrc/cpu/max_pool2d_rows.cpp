// Max pooling by rows (pool2d_rows.h), float32.
//   x, dx: (N, C, H, W)    y, dy, indices: (N, C, P, Q)
//
// Forward: before an item runs, its input rows are scanned for NaN; without any, the kernels use a
// plain maximum (`v > best ? v : best`, the same result as torch's rule when nothing is NaN).
// Backward: dx rows are gathered (pool2d.h). With indices given, each is narrowed to int32 (-1 when
// outside the plane) and counted; if some in-plane index was not found inside its own window (an
// index array from elsewhere), the unit is redone as the generic code does it: zero, then add each
// dy at its index in (oh, ow) order. Without indices the argmax is recomputed row by row, and always
// lies in its window.
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/pool2d_rows.h"

namespace fastconv {

namespace {

using namespace pool_rows;

// Copies n elements src[i * stride] to dst[i].
template <typename T>
void gather_copy(const T* src, int64_t stride, int64_t n, T* dst) {
  if (stride == 1) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
}

template <typename T>
void scatter_copy(const T* src, int64_t n, T* dst, int64_t stride) {
  for (int64_t i = 0; i < n; ++i) dst[i * stride] = src[i];
}

// Whether row h of a unit holds a NaN. Planar: W contiguous values; NHWC: W pixels (xs_w apart) of C
// contiguous channels.
bool row_has_nan(const cpu::Pool2dKernels& k, const float* row, int64_t W, int64_t C, int64_t xs_w) {
  if (C == 1 || xs_w == C) return k.any_nan(row, W * C, 1);
  for (int64_t w = 0; w < W; ++w)
    if (k.any_nan(row + w * xs_w, C, 1)) return true;
  return false;
}

// Scans input rows for NaN as the output rows first need them (each row once, just before its first
// use, so the scan streams memory while the previous rows' arithmetic runs). Windows move forward.
struct NanRows {
  const cpu::Pool2dKernels& k;
  const float* base;
  int64_t row_stride, W, C, xs_w;
  int64_t next = std::numeric_limits<int64_t>::min(), last_nan = std::numeric_limits<int64_t>::min();

  // Whether rows [h_first, h_last] hold a NaN.
  bool any(int64_t h_first, int64_t h_last) {
    for (int64_t h = std::max(next, h_first); h <= h_last; ++h)
      if (row_has_nan(k, base + h * row_stride, W, C, xs_w)) last_nan = h;
    next = std::max(next, h_last + 1);
    return last_nan >= h_first;
  }
};

// Output row with no inside row (dilation): -inf, and torch's default index for each column.
void empty_row(const Pool2dParams& p, int64_t first_h, float* y, int64_t y_qs, int64_t* idx, int64_t i_qs,
               int64_t channels, int64_t y_cs, int64_t i_cs) {
  for (int64_t q = 0; q < p.Q; ++q) {
    const int64_t w0 = q * p.stride_w - p.pad_w;
    int64_t slo, shi;
    inside_taps(w0, p.kernel_w, p.dilation_w, p.W, slo, shi);
    for (int64_t c = 0; c < channels; ++c) {
      y[q * y_qs + c * y_cs] = -std::numeric_limits<float>::infinity();
      if (idx) idx[q * i_qs + c * i_cs] = first_h * p.W + (w0 + slo * p.dilation_w);
    }
  }
}

void fprop_planar(const Pool2dParams& p, const float* x, float* y, int64_t* indices) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  cpu::PoolRowGeom g = row_geom(p);
  const PlanarLayout layout(p, k.lanes);
  layout.apply(g);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const bool y_direct = ys[3] == 1, i_direct = !indices || is[3] == 1;
  for_each_item(p.N * p.C, p.P, p.Q * p.kernel_h * p.kernel_w, true, [&](int64_t u, int64_t oa, int64_t ob) {
    const int64_t n = u / p.C, c = u % p.C;
    const float* plane = x + (n * xs[0] + c * xs[1]);
    PaddedRows rows(p, layout, k.lanes, -std::numeric_limits<float>::infinity());
    std::vector<int64_t> hs(static_cast<size_t>(p.kernel_h));
    std::vector<const float*> ptrs(static_cast<size_t>(p.kernel_h));
    std::vector<float> ybuf(y_direct ? 0 : static_cast<size_t>(p.Q));
    std::vector<int64_t> ibuf(i_direct ? 0 : static_cast<size_t>(p.Q));
    for (int64_t oh = oa; oh < ob; ++oh) {
      float* yrow = y + (n * ys[0] + c * ys[1] + oh * ys[2]);
      int64_t* irow = indices ? indices + (n * is[0] + c * is[1] + oh * is[2]) : nullptr;
      int64_t first_h;
      const int64_t nrows = window_rows(p, oh, plane, xs[2], hs.data(), ptrs.data(), &first_h);
      if (nrows == 0) {
        empty_row(p, first_h, yrow, ys[3], irow, indices ? is[3] : 0, 1, 0, 0);
        continue;
      }
      bool exact = false;
      for (int64_t r = 0; r < nrows; ++r) ptrs[r] = rows.get(k, hs[r], ptrs[r], xs[3], exact);
      float* yk = y_direct ? yrow : ybuf.data();
      int64_t* ik = i_direct ? irow : ibuf.data();
      k.max_row_planar(g, cpu::PoolRows{ptrs.data(), hs.data(), nrows}, exact, yk,
                       indices ? cpu::PoolIdx::i64 : cpu::PoolIdx::none, ik);
      if (!y_direct) scatter_copy(ybuf.data(), p.Q, yrow, ys[3]);
      if (indices && !i_direct) scatter_copy(ibuf.data(), p.Q, irow, is[3]);
    }
  });
}

void fprop_nhwc(const Pool2dParams& p, const float* x, float* y, int64_t* indices) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  cpu::PoolRowGeom g = row_geom(p);
  g.C = p.C;
  const int64_t* xs = p.x_strides;
  g.xs_w = xs[3];
  std::vector<int32_t> taps(static_cast<size_t>(2 * p.Q));
  cpu::pool_tap_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, taps.data());
  g.taps = taps.data();
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const bool y_direct = ys[1] == 1, i_direct = !indices || is[1] == 1;
  for_each_item(p.N, p.P, p.Q * p.C * p.kernel_h * p.kernel_w, true, [&](int64_t n, int64_t oa, int64_t ob) {
    const float* image = x + n * xs[0];
    std::vector<int64_t> hs(static_cast<size_t>(p.kernel_h));
    std::vector<const float*> ptrs(static_cast<size_t>(p.kernel_h));
    std::vector<float> ybuf(y_direct ? 0 : static_cast<size_t>(p.Q * p.C));
    std::vector<int64_t> ibuf(i_direct ? 0 : static_cast<size_t>(p.Q * p.C));
    NanRows nan{k, image, xs[2], p.W, p.C, xs[3]};
    for (int64_t oh = oa; oh < ob; ++oh) {
      float* yrow = y + (n * ys[0] + oh * ys[2]);
      int64_t* irow = indices ? indices + (n * is[0] + oh * is[2]) : nullptr;
      int64_t first_h;
      const int64_t nrows = window_rows(p, oh, image, xs[2], hs.data(), ptrs.data(), &first_h);
      if (nrows == 0) {
        empty_row(p, first_h, yrow, ys[3], irow, indices ? is[3] : 0, p.C, ys[1], indices ? is[1] : 0);
        continue;
      }
      float* yk = y_direct ? yrow : ybuf.data();
      int64_t* ik = i_direct ? irow : ibuf.data();
      const bool exact = nan.any(hs[0], hs[nrows - 1]);
      k.max_row_nhwc(g, cpu::PoolRows{ptrs.data(), hs.data(), nrows}, exact, yk, y_direct ? ys[3] : p.C,
                     indices ? cpu::PoolIdx::i64 : cpu::PoolIdx::none, ik, i_direct ? (indices ? is[3] : 0) : p.C);
      for (int64_t q = 0; !y_direct && q < p.Q; ++q) scatter_copy(ybuf.data() + q * p.C, p.C, yrow + q * ys[3], ys[1]);
      for (int64_t q = 0; indices && !i_direct && q < p.Q; ++q)
        scatter_copy(ibuf.data() + q * p.C, p.C, irow + q * is[3], is[1]);
    }
  });
}

// The generic backward of one unit (channels [c0, c0 + cb) of image n): zero, then each dy added at
// its in-plane index in (oh, ow) order.
void dgrad_scatter(const Pool2dParams& p, const float* dy, const int64_t* indices, float* dx, int64_t n, int64_t c0,
                   int64_t cb) {
  const int64_t* xs = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const int64_t plane = p.H * p.W;
  for (int64_t c = c0; c < c0 + cb; ++c) {
    float* dxp = dx + (n * xs[0] + c * xs[1]);
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t w = 0; w < p.W; ++w) dxp[h * xs[2] + w * xs[3]] = 0.0f;
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t q = 0; q < p.Q; ++q) {
        const int64_t i = indices[n * is[0] + c * is[1] + oh * is[2] + q * is[3]];
        if (i < 0 || i >= plane) continue;
        dxp[(i / p.W) * xs[2] + (i % p.W) * xs[3]] += dy[n * ys[0] + c * ys[1] + oh * ys[2] + q * ys[3]];
      }
  }
}

// Narrows n indices (src[i * stride]) to int32, -1 outside [0, plane); returns how many are inside.
int64_t narrow_indices(const int64_t* src, int64_t stride, int64_t n, int64_t plane, int32_t* dst) {
  int64_t inside = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = src[i * stride];
    const bool in = static_cast<uint64_t>(v) < static_cast<uint64_t>(plane);
    dst[i] = in ? static_cast<int32_t>(v) : -1;
    inside += in;
  }
  return inside;
}

void dgrad_planar(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  cpu::PoolRowGeom fg = row_geom(p);
  const PlanarLayout layout(p, k.lanes);
  layout.apply(fg);
  cpu::GatherGeom g;
  g.W = p.W, g.Q = p.Q, g.kw = p.kernel_w, g.sw = p.stride_w, g.pw = p.pad_w;
  g.J = p.stride_w == 1 ? p.kernel_w : (p.kernel_w + p.stride_w - 1) / p.stride_w;
  g.margin = k.lanes + p.kernel_w + g.J + 4;
  std::vector<int32_t> cols(static_cast<size_t>(2 * p.W));
  cpu::pool_cover_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, cols.data());
  g.cols = cols.data();
  std::vector<int32_t> perm(static_cast<size_t>(g.J * k.lanes)), cover(perm.size());
  if (p.stride_w > 1 &&
      cpu::pool2d_gather_tables(k.lanes, p.kernel_w, p.stride_w, p.pad_w, g.J, perm.data(), cover.data())) {
    g.perm = perm.data();
    g.cover = cover.data();
  }
  const int64_t* xs = p.x_strides;
  const int64_t* ds = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const int64_t row_len = p.Q + 2 * g.margin;
  // With indices the check needs whole planes per item.
  for_each_item(p.N * p.C, p.H, p.W * (g.J + 1), !indices, [&](int64_t u, int64_t ha, int64_t hb) {
    const int64_t n = u / p.C, c = u % p.C;
    const float* plane = x + (n * xs[0] + c * xs[1]);
    float* dx_plane = dx + (n * ds[0] + c * ds[1]);
    Ring ring(p.kernel_h, p.stride_h, row_len, true, 0.0f, -1);
    std::vector<int64_t> hs(static_cast<size_t>(p.kernel_h));
    std::vector<const float*> ptrs(static_cast<size_t>(p.kernel_h));
    std::vector<float> ybuf(static_cast<size_t>(p.Q));
    std::vector<const float*> dyr(static_cast<size_t>(ring.slots));
    std::vector<const int32_t*> ir(static_cast<size_t>(ring.slots));
    PaddedRows rows(p, layout, k.lanes, -std::numeric_limits<float>::infinity());
    int64_t inside = 0, matches = 0;
    walk_rows(
        p, ha, hb,
        [&](int64_t oh) {
          gather_copy(dy + (n * ys[0] + c * ys[1] + oh * ys[2]), ys[3], p.Q, ring.value_row(oh) + g.margin);
          int32_t* irow = ring.index_row(oh) + g.margin;
          if (indices) {
            inside += narrow_indices(indices + (n * is[0] + c * is[1] + oh * is[2]), is[3], p.Q, p.H * p.W, irow);
          } else {
            int64_t first_h;
            const int64_t nrows = window_rows(p, oh, plane, xs[2], hs.data(), ptrs.data(), &first_h);
            bool exact = false;
            for (int64_t r = 0; r < nrows; ++r) ptrs[r] = rows.get(k, hs[r], ptrs[r], xs[3], exact);
            k.max_row_planar(fg, cpu::PoolRows{ptrs.data(), hs.data(), nrows}, exact, ybuf.data(), cpu::PoolIdx::i32,
                             irow);
          }
        },
        [&](int64_t h, int64_t first, int64_t n_oh) {
          for (int64_t i = 0; i < n_oh; ++i) {
            dyr[i] = ring.value_row(first + i);
            ir[i] = ring.index_row(first + i);
          }
          k.max_gather_planar(g, dyr.data(), ir.data(), n_oh, h, dx_plane + h * ds[2], &matches);
        });
    if (indices && matches != inside) dgrad_scatter(p, dy, indices, dx, n, c, 1);
  });
}

void dgrad_nhwc(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  const int64_t* xs = p.x_strides;
  const int64_t* ds = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  // Channel blocks: up to 64, fewer when that leaves threads idle (the results do not depend on it).
  int64_t cb = std::min<int64_t>(p.C, 64);
  while (cb > 16 && p.N * ((p.C + cb - 1) / cb) < 2 * static_cast<int64_t>(get_num_threads())) cb /= 2;
  const int64_t blocks = (p.C + cb - 1) / cb;
  cpu::PoolRowGeom fg = row_geom(p);
  fg.xs_w = xs[3];
  std::vector<int32_t> taps(static_cast<size_t>(2 * p.Q)), cols(static_cast<size_t>(2 * p.W));
  cpu::pool_tap_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, taps.data());
  cpu::pool_cover_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, cols.data());
  fg.taps = taps.data();
  cpu::GatherGeom g;
  g.W = p.W, g.Q = p.Q, g.kw = p.kernel_w, g.sw = p.stride_w, g.pw = p.pad_w;
  g.dx_ws = ds[3];
  g.cols = cols.data();
  for_each_item(p.N * blocks, p.H, p.W * cb * p.kernel_h * p.kernel_w, !indices, [&](int64_t u, int64_t ha,
                                                                                      int64_t hb) {
    const int64_t n = u / blocks, c0 = (u % blocks) * cb, nc = std::min(cb, p.C - c0);
    cpu::GatherGeom gu = g;
    gu.C = nc;
    cpu::PoolRowGeom fu = fg;
    fu.C = nc;
    const float* image = x + (n * xs[0] + c0 * xs[1]);
    Ring ring(p.kernel_h, p.stride_h, p.Q * nc, true, 0.0f, -1);
    std::vector<int64_t> hs(static_cast<size_t>(p.kernel_h));
    std::vector<const float*> ptrs(static_cast<size_t>(p.kernel_h));
    std::vector<float> ybuf(indices ? 0 : static_cast<size_t>(p.Q * nc));
    std::vector<const float*> dyr(static_cast<size_t>(ring.slots));
    std::vector<const int32_t*> ir(static_cast<size_t>(ring.slots));
    NanRows nan{k, image, xs[2], p.W, nc, xs[3]};
    int64_t inside = 0, matches = 0;
    walk_rows(
        p, ha, hb,
        [&](int64_t oh) {
          float* vrow = ring.value_row(oh);
          int32_t* irow = ring.index_row(oh);
          const float* dyo = dy + (n * ys[0] + c0 * ys[1] + oh * ys[2]);
          for (int64_t q = 0; q < p.Q; ++q) gather_copy(dyo + q * ys[3], ys[1], nc, vrow + q * nc);
          if (indices) {
            const int64_t* io = indices + (n * is[0] + c0 * is[1] + oh * is[2]);
            for (int64_t q = 0; q < p.Q; ++q)
              inside += narrow_indices(io + q * is[3], is[1], nc, p.H * p.W, irow + q * nc);
          } else {
            int64_t first_h;
            const int64_t nrows = window_rows(p, oh, image, xs[2], hs.data(), ptrs.data(), &first_h);
            k.max_row_nhwc(fu, cpu::PoolRows{ptrs.data(), hs.data(), nrows}, nan.any(hs[0], hs[nrows - 1]), ybuf.data(), nc,
                           cpu::PoolIdx::i32, irow, nc);
          }
        },
        [&](int64_t h, int64_t first, int64_t n_oh) {
          for (int64_t i = 0; i < n_oh; ++i) {
            dyr[i] = ring.value_row(first + i);
            ir[i] = ring.index_row(first + i);
          }
          k.max_gather_nhwc(gu, dyr.data(), ir.data(), n_oh, h, dx + (n * ds[0] + c0 * ds[1] + h * ds[2]), &matches);
        });
    if (indices && matches != inside) dgrad_scatter(p, dy, indices, dx, n, c0, nc);
  });
}

}  // namespace

bool max_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y, int64_t* indices) {
  if (!fits_int32(p)) return false;
  if (channels_inner(p, p.x_strides)) {
    if (p.x_strides[1] != 1) return false;
    fprop_nhwc(p, x, y, indices);
  } else {
    fprop_planar(p, x, y, indices);
  }
  return true;
}

bool max_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices,
                           float* dx) {
  if (!fits_int32(p) || p.dilation_h != 1 || p.dilation_w != 1) return false;
  if (channels_inner(p, p.dx_strides)) {
    if (p.dx_strides[1] != 1 || (!indices && (p.x_strides[1] != 1 || !channels_inner(p, p.x_strides)))) return false;
    dgrad_nhwc(p, dy, x, indices, dx);
  } else {
    if (p.dx_strides[3] != 1 || (!indices && channels_inner(p, p.x_strides))) return false;
    dgrad_planar(p, dy, x, indices, dx);
  }
  return true;
}

}  // namespace fastconv
