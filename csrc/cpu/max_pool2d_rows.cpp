// Max pooling by rows (pool2d_rows.h), float32.
//   x, dx: (N, C, H, W)    y, dy, indices: (N, C, P, Q)
//
// Forward: the kernels use a plain maximum (`v > best ? v : best`, torch's rule when nothing is NaN)
// unless a window row holds a NaN (planar: found while copying the row; NHWC: rows scanned as the
// windows first reach them).
// Backward, planar (dense dx planes): a scatter per plane, dy added at each flat index in (oh, ow)
// order, as the generic code does (dgrad_planar_scatter).
// Backward, NHWC: dx rows are gathered over channel vectors (pool2d.h). With indices given, each is
// narrowed to int32 (-1 when outside the plane) and counted; if some in-plane index was not found
// inside its own window (an index array from elsewhere), the unit is redone as the generic code does
// it: zero, then add each dy at its index in (oh, ow) order.
// Without indices the argmax is recomputed row by row; it always lies in its window (dilation 1 and
// padding <= kernel / 2 leave no window without an inside tap).
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/pool2d_rows.h"

namespace fastconv {

namespace {

using namespace pool_rows;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Copies n elements src[i * stride] to dst[i], and back.
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

// Whether row h of a unit holds a NaN. NHWC: W pixels (xs_w apart) of C contiguous channels.
bool row_has_nan(const cpu::Pool2dKernels& k, const float* row, int64_t W, int64_t C, int64_t xs_w) {
  if (xs_w == C) return k.any_nan(row, W * C, 1);
  for (int64_t w = 0; w < W; ++w)
    if (k.any_nan(row + w * xs_w, C, 1)) return true;
  return false;
}

// Scans NHWC input rows for NaN as the output rows first need them (each row once, just before its
// first use). Windows move forward; reset() before each unit.
struct NanRows {
  const cpu::Pool2dKernels& k;
  int64_t row_stride, W, C, xs_w;
  int64_t next = std::numeric_limits<int64_t>::min(), last_nan = std::numeric_limits<int64_t>::min();

  void reset() { next = last_nan = std::numeric_limits<int64_t>::min(); }
  // Whether rows [h_first, h_last] of the unit at base hold a NaN.
  bool any(const float* base, int64_t h_first, int64_t h_last) {
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
      y[q * y_qs + c * y_cs] = kNegInf;
      if (idx) idx[q * i_qs + c * i_cs] = first_h * p.W + (w0 + slo * p.dilation_w);
    }
  }
}

// Per-chunk buffers of the forward passes.
struct FpropScratch {
  PaddedRows rows;  // planar
  NanRows nan;      // NHWC
  std::vector<int64_t> hs;
  std::vector<const float*> ptrs;
  std::vector<float> ybuf;
  std::vector<int64_t> ibuf;
};

void fprop_planar(const Plan& plan, const float* x, float* y, int64_t* indices) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  // Rows go straight to y and the indices when they have unit q stride, else through scratch rows.
  const bool direct = ys[3] == 1 && (!indices || is[3] == 1);
  const int64_t chunk = direct ? p.P : std::min<int64_t>(p.P, 16);
  const cpu::PoolIdx ik = indices ? cpu::PoolIdx::i64 : cpu::PoolIdx::none;
  auto scratch = [&] {
    return FpropScratch{PaddedRows(plan, kNegInf), NanRows{k, 0, 0, 0, 0}, {}, {},
                        std::vector<float>(direct ? 0 : static_cast<size_t>(chunk * p.Q)),
                        std::vector<int64_t>(direct || !indices ? 0 : static_cast<size_t>(chunk * p.Q))};
  };
  for_each_item(p.N * p.C, p.P, p.Q * p.kernel_h * p.kernel_w, true, scratch,
                [&](FpropScratch& s, int64_t u, int64_t oa, int64_t ob) {
    const int64_t n = u / p.C, c = u % p.C;
    float* yp = y + (n * ys[0] + c * ys[1]);
    int64_t* ip = indices ? indices + (n * is[0] + c * is[1]) : nullptr;
    s.rows.reset();
    for (int64_t o0 = oa; o0 < ob; o0 += chunk) {
      const int64_t o1 = std::min(ob, o0 + chunk);
      const cpu::PlanarUnit unit =
          direct ? planar_unit(plan, x + (n * xs[0] + c * xs[1]), yp + o0 * ys[2], ys[2],
                               ip ? ip + o0 * is[2] : nullptr, is[2], ik, o0, o1)
                 : planar_unit(plan, x + (n * xs[0] + c * xs[1]), s.ybuf.data(), p.Q, s.ibuf.data(), p.Q, ik, o0, o1);
      k.max_unit_planar(plan.g, unit, s.rows.rows());
      for (int64_t oh = o0; !direct && oh < o1; ++oh) {
        scatter_copy(s.ybuf.data() + (oh - o0) * p.Q, p.Q, yp + oh * ys[2], ys[3]);
        if (ip) scatter_copy(s.ibuf.data() + (oh - o0) * p.Q, p.Q, ip + oh * is[2], is[3]);
      }
    }
  });
}

void fprop_nhwc(const Plan& plan, const float* x, float* y, int64_t* indices) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  cpu::PoolRowGeom g = plan.g;
  const int64_t* xs = p.x_strides;
  g.C = p.C;
  g.xs_w = xs[3];
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const bool y_direct = ys[1] == 1, i_direct = !indices || is[1] == 1;
  const cpu::PoolIdx ik = indices ? cpu::PoolIdx::i64 : cpu::PoolIdx::none;
  auto scratch = [&] {
    return FpropScratch{PaddedRows(plan, kNegInf), NanRows{k, xs[2], p.W, p.C, xs[3]},
                        std::vector<int64_t>(static_cast<size_t>(p.kernel_h)),
                        std::vector<const float*>(static_cast<size_t>(p.kernel_h)),
                        std::vector<float>(y_direct ? 0 : static_cast<size_t>(p.Q * p.C)),
                        std::vector<int64_t>(i_direct ? 0 : static_cast<size_t>(p.Q * p.C))};
  };
  for_each_item(p.N, p.P, p.Q * p.C * p.kernel_h * p.kernel_w, true, scratch,
                [&](FpropScratch& s, int64_t n, int64_t oa, int64_t ob) {
    const float* image = x + n * xs[0];
    s.nan.reset();
    for (int64_t oh = oa; oh < ob; ++oh) {
      float* yrow = y + (n * ys[0] + oh * ys[2]);
      int64_t* irow = indices ? indices + (n * is[0] + oh * is[2]) : nullptr;
      const int64_t nrows = plan.window(oh, image, xs[2], s.hs.data(), s.ptrs.data());
      if (nrows == 0) {
        empty_row(p, plan.first_h[static_cast<size_t>(oh)], yrow, ys[3], irow, indices ? is[3] : 0, p.C, ys[1],
                  indices ? is[1] : 0);
        continue;
      }
      const bool exact = s.nan.any(image, s.hs[0], s.hs[nrows - 1]);
      k.max_row_nhwc(g, cpu::PoolRows{s.ptrs.data(), s.hs.data(), nrows}, exact, y_direct ? yrow : s.ybuf.data(),
                     y_direct ? ys[3] : p.C, ik, i_direct ? irow : s.ibuf.data(),
                     i_direct ? (indices ? is[3] : 0) : p.C);
      for (int64_t q = 0; !y_direct && q < p.Q; ++q)
        scatter_copy(s.ybuf.data() + q * p.C, p.C, yrow + q * ys[3], ys[1]);
      for (int64_t q = 0; !i_direct && q < p.Q; ++q)
        scatter_copy(s.ibuf.data() + q * p.C, p.C, irow + q * is[3], is[1]);
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

// Per-chunk buffers of the backward passes.
struct DgradScratch {
  Ring ring;
  PaddedRows rows;  // planar, recomputing the argmax
  NanRows nan;      // NHWC, recomputing the argmax
  std::vector<int64_t> hs;
  std::vector<const float*> ptrs;
  std::vector<float> ybuf;
  std::vector<const float*> dyr;
  std::vector<const int32_t*> ir;
};

DgradScratch make_dgrad_scratch(const Plan& plan, int64_t row_len, int64_t y_len, const NanRows& nan) {
  const Pool2dParams& p = plan.p;
  Ring ring(p, row_len, true, 0.0f, -1);
  const size_t slots = static_cast<size_t>(ring.slots);
  return DgradScratch{std::move(ring), PaddedRows(plan, kNegInf), nan,
                      std::vector<int64_t>(static_cast<size_t>(p.kernel_h)),
                      std::vector<const float*>(static_cast<size_t>(p.kernel_h)),
                      std::vector<float>(static_cast<size_t>(y_len)), std::vector<const float*>(slots),
                      std::vector<const int32_t*>(slots)};
}

// Planar backward as a scatter, for dense dx planes (rows W apart, unit w stride): zero the rows, then
// add each dy at its flat index in (oh, ow) order, as the generic code does. With indices a unit is a
// whole plane (an index may name any element of it). Recomputing the argmax, a unit may be a block of
// dx rows: it takes the output rows covering them and adds only what lands inside, in the same order;
// and when the windows are disjoint each dx row is simply written from the one output row covering it
// (at most one addend per element: the same values). For planes of the sizes networks use this beats
// a gather: one add per output and no bookkeeping.
constexpr int64_t kScatterRows = 8;  // output rows whose argmax is recomputed at a time

struct ScatterScratch {
  PaddedRows rows;
  std::vector<float> ybuf;
  std::vector<int32_t> arg;
};

void dgrad_planar_scatter(const Plan& plan, const float* dy, const float* x, const int64_t* indices, float* dx) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  const int64_t* xs = p.x_strides;
  const int64_t* ds = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const int64_t W = p.W, plane = p.H * p.W;
  auto scratch = [&] {
    // A vector of room past the rows: PoolIdx::i32 kernels may write it.
    return ScatterScratch{PaddedRows(plan, kNegInf),
                          std::vector<float>(static_cast<size_t>(kScatterRows * p.Q + k.lanes)),
                          std::vector<int32_t>(static_cast<size_t>(kScatterRows * p.Q + k.lanes))};
  };
  const int64_t per_input = (p.kernel_h / p.stride_h + 1) * (p.kernel_w / p.stride_w + 1);
  // Disjoint windows (2x2 stride 2, say): every dx element lies in at most one window.
  const bool disjoint = p.kernel_h <= p.stride_h && p.kernel_w <= p.stride_w;
  for_each_item(p.N * p.C, p.H, W * per_input, !indices, scratch,
                [&](ScatterScratch& s, int64_t u, int64_t ha, int64_t hb) {
    const int64_t n = u / p.C, c = u % p.C;
    float* dxp = dx + (n * ds[0] + c * ds[1]);
    const float* dyp = dy + (n * ys[0] + c * ys[1]);
    if (indices) {
      k.zero(dxp, plane);
      const int64_t* ip = indices + (n * is[0] + c * is[1]);
      for (int64_t oh = 0; oh < p.P; ++oh) {
        const float* dyr = dyp + oh * ys[2];
        const int64_t* ir = ip + oh * is[2];
        if (ys[3] == 1 && is[3] == 1) {
          for (int64_t q = 0; q < p.Q; ++q)
            if (static_cast<uint64_t>(ir[q]) < static_cast<uint64_t>(plane)) dxp[ir[q]] += dyr[q];
        } else {
          for (int64_t q = 0; q < p.Q; ++q) {
            const int64_t i = ir[q * is[3]];
            if (static_cast<uint64_t>(i) < static_cast<uint64_t>(plane)) dxp[i] += dyr[q * ys[3]];
          }
        }
      }
      return;
    }
    const float* xp = x + (n * xs[0] + c * xs[1]);
    if (disjoint) {  // each dx row written whole from the one output row covering it, if any
      s.rows.reset();
      const cpu::DisjointDgrad d{dyp, ys[2], ys[3], dxp, W, ha, hb, plan.cover.data(), s.arg.data(), s.ybuf.data()};
      k.max_dgrad_disjoint_unit(plan.g, plan.gg, planar_unit(plan, xp, nullptr, 0, nullptr, 0, cpu::PoolIdx::i32, 0, 0),
                                s.rows.rows(), d);
      return;
    }
    const int64_t oa = plan.cover[static_cast<size_t>(2 * ha)], ob = plan.cover[static_cast<size_t>(2 * (hb - 1) + 1)];
    const int64_t lo = ha * W, hi = hb * W;
    s.rows.reset();
    int64_t zeroed = ha;  // dx rows [ha, zeroed) are zero or hold sums; zero each just before first use
    for (int64_t o0 = std::max<int64_t>(oa, 0); o0 <= ob; o0 += kScatterRows) {
      const int64_t o1 = std::min(ob + 1, o0 + kScatterRows);
      k.max_unit_planar(plan.g, planar_unit(plan, xp, s.ybuf.data(), p.Q, s.arg.data(), p.Q, cpu::PoolIdx::i32, o0, o1),
                        s.rows.rows());
      const int64_t last = plan.first_h[static_cast<size_t>(o1 - 1)] +
                           (plan.n_rows[static_cast<size_t>(o1 - 1)] - 1) * p.dilation_h;
      const int64_t upto = std::min(hb, last + 1);
      if (upto > zeroed) {
        k.zero(dxp + zeroed * W, (upto - zeroed) * W);
        zeroed = upto;
      }
      for (int64_t oh = o0; oh < o1; ++oh) {
        const float* dyr = dyp + oh * ys[2];
        const int32_t* arg = s.arg.data() + (oh - o0) * p.Q;
        const int64_t h_first = plan.first_h[static_cast<size_t>(oh)];
        const int64_t h_last = h_first + (plan.n_rows[static_cast<size_t>(oh)] - 1) * p.dilation_h;
        if (h_first >= ha && h_last < hb) {  // the whole window in the block
          for (int64_t q = 0; q < p.Q; ++q) dxp[arg[q]] += dyr[q * ys[3]];
        } else {
          for (int64_t q = 0; q < p.Q; ++q)
            if (arg[q] >= lo && arg[q] < hi) dxp[arg[q]] += dyr[q * ys[3]];
        }
      }
    }
    if (hb > zeroed) k.zero(dxp + zeroed * W, (hb - zeroed) * W);  // rows no window covers
  });
}

void dgrad_nhwc(const Plan& plan, const float* dy, const float* x, const int64_t* indices, float* dx) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  const int64_t* xs = p.x_strides;
  const int64_t* ds = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  // Channel blocks: up to 64, fewer when that leaves threads idle (the results do not depend on it).
  int64_t cb = std::min<int64_t>(p.C, 64);
  while (cb > 16 && p.N * ((p.C + cb - 1) / cb) < 2 * static_cast<int64_t>(get_num_threads())) cb /= 2;
  const int64_t blocks = (p.C + cb - 1) / cb;
  cpu::PoolRowGeom fg = plan.g;
  fg.xs_w = xs[3];
  cpu::GatherGeom g = plan.gg;
  g.dx_ws = ds[3];
  const bool dy_in_place = ys[1] == 1;  // the gathers read dy rows where they are
  auto scratch = [&] {
    return make_dgrad_scratch(plan, p.Q * cb, indices ? 0 : p.Q * cb, NanRows{k, xs[2], p.W, cb, xs[3]});
  };
  for_each_item(p.N * blocks, p.H, p.W * cb * p.kernel_h * p.kernel_w, !indices, scratch,
                [&](DgradScratch& s, int64_t u, int64_t ha, int64_t hb) {
    const int64_t n = u / blocks, c0 = (u % blocks) * cb, nc = std::min(cb, p.C - c0);
    cpu::GatherGeom gu = g;
    gu.C = nc;
    gu.value_qs = dy_in_place ? ys[3] : nc;
    cpu::PoolRowGeom fu = fg;
    fu.C = nc;
    s.nan.C = nc;
    s.nan.reset();
    const float* image = x + (n * xs[0] + c0 * xs[1]);
    int64_t inside = 0, matches = 0;
    walk_rows(
        plan, ha, hb,
        [&](int64_t oh) {
          int32_t* irow = s.ring.index_row(oh);
          const float* dyo = dy + (n * ys[0] + c0 * ys[1] + oh * ys[2]);
          for (int64_t q = 0; !dy_in_place && q < p.Q; ++q)
            gather_copy(dyo + q * ys[3], ys[1], nc, s.ring.value_row(oh) + q * nc);
          if (indices) {
            const int64_t* io = indices + (n * is[0] + c0 * is[1] + oh * is[2]);
            for (int64_t q = 0; q < p.Q; ++q)
              inside += k.narrow_indices(io + q * is[3], is[1], nc, p.H * p.W, irow + q * nc);
            return;
          }
          const int64_t nrows = plan.window(oh, image, xs[2], s.hs.data(), s.ptrs.data());
          const bool exact = s.nan.any(image, s.hs[0], s.hs[nrows - 1]);
          k.max_row_nhwc(fu, cpu::PoolRows{s.ptrs.data(), s.hs.data(), nrows}, exact, s.ybuf.data(), nc,
                         cpu::PoolIdx::i32, irow, nc);
        },
        [&](int64_t h, int64_t first, int64_t n_oh) {
          for (int64_t i = 0; i < n_oh; ++i) {
            s.dyr[i] = dy_in_place ? dy + (n * ys[0] + c0 * ys[1] + (first + i) * ys[2]) : s.ring.value_row(first + i);
            s.ir[i] = s.ring.index_row(first + i);
          }
          k.max_gather_nhwc(gu, s.dyr.data(), s.ir.data(), n_oh, h, dx + (n * ds[0] + c0 * ds[1] + h * ds[2]),
                            indices ? &matches : nullptr);
        });
    if (indices && matches != inside) dgrad_scatter(p, dy, indices, dx, n, c0, nc);
  });
}

}  // namespace

bool max_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y, int64_t* indices) {
  if (!fits_int32(p) || !scratch_fits(p)) return false;
  const bool nhwc = channels_inner(p, p.x_strides);
  if (nhwc && p.x_strides[1] != 1) return false;
  const Plan plan(p, false);
  if (nhwc) fprop_nhwc(plan, x, y, indices);
  else fprop_planar(plan, x, y, indices);
  return true;
}

bool max_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices,
                           float* dx) {
  if (!fits_int32(p) || !scratch_fits(p) || p.dilation_h != 1 || p.dilation_w != 1) return false;
  const bool nhwc = channels_inner(p, p.dx_strides);
  // Recomputing the argmax reads x with the same family of kernels.
  if (!indices && channels_inner(p, p.x_strides) != nhwc) return false;
  // Planar: dense dx planes (flat index = offset).
  if (nhwc ? p.dx_strides[1] != 1 || (!indices && p.x_strides[1] != 1)
           : p.dx_strides[3] != 1 || p.dx_strides[2] != p.W)
    return false;
  const Plan plan(p, true);
  if (nhwc) dgrad_nhwc(plan, dy, x, indices, dx);
  else dgrad_planar_scatter(plan, dy, x, indices, dx);
  return true;
}

}  // namespace fastconv
