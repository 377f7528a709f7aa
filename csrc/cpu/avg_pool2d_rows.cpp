// Average pooling by rows (pool2d_rows.h), float32.
//   x, dx: (N, C, H, W)    y, dy: (N, C, P, Q)
//
// The divisor of window (oh, ow) is avg_pool2d.cpp's, a product of one factor per axis (or the
// override), converted to float once per output row. Forward sums the inside taps from +0 in
// row-major order and divides once; backward prepares g = dy / divisor per output row and gathers
// each dx element as the sum of g over the covering windows in (oh, ow) order from +0: the same
// operations, in the same order, as avg_pool2d.cpp.
#include <vector>

#include "cpu/pool2d_rows.h"

namespace fastconv {

namespace {

using namespace pool_rows;

// Per axis: the window size clipped to the padded input (count_include_pad) or the inside taps.
std::vector<int64_t> divisor_factors(int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t L, bool include_pad) {
  std::vector<int64_t> f(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad;
    const int64_t end = std::min(start + k, L + pad);
    const int64_t inside = std::max<int64_t>(0, std::min(end, L) - std::max<int64_t>(start, 0));
    f[static_cast<size_t>(o)] = include_pad ? end - start : inside;
  }
  return f;
}

struct Divisors {
  std::vector<int64_t> h, w;
  int64_t override_value;

  explicit Divisors(const Pool2dParams& p)
      : h(divisor_factors(p.P, p.kernel_h, p.stride_h, p.pad_h, p.H, p.count_include_pad)),
        w(divisor_factors(p.Q, p.kernel_w, p.stride_w, p.pad_w, p.W, p.count_include_pad)),
        override_value(p.divisor_override) {}

  // The Q divisors of output row oh into row (left alone when its factor is `cached`).
  void row(int64_t oh, float* out, int64_t& cached) const {
    const int64_t fh = override_value != 0 ? 0 : h[static_cast<size_t>(oh)];
    if (fh == cached) return;
    cached = fh;
    for (size_t q = 0; q < w.size(); ++q)
      out[q] = static_cast<float>(override_value != 0 ? override_value : fh * w[q]);
  }
};

struct FpropScratch {
  PaddedRows rows;
  std::vector<int64_t> hs;
  std::vector<const float*> ptrs;
  std::vector<float> div, ybuf;
};

// Per output row, its Q divisors as floats (rows with the same h factor share one).
struct DivisorRows {
  std::vector<std::vector<float>> distinct;
  std::vector<const float*> row;
  explicit DivisorRows(const Pool2dParams& p, const Divisors& d) : row(static_cast<size_t>(p.P)) {
    std::vector<int64_t> factor;
    for (int64_t oh = 0; oh < p.P; ++oh) {
      const int64_t fh = d.override_value != 0 ? 0 : d.h[static_cast<size_t>(oh)];
      size_t i = 0;
      while (i < factor.size() && factor[i] != fh) ++i;
      if (i == factor.size()) {
        factor.push_back(fh);
        distinct.emplace_back(static_cast<size_t>(p.Q));
        int64_t cached = -1;
        d.row(oh, distinct.back().data(), cached);
      }
      row[static_cast<size_t>(oh)] = distinct[i].data();
    }
  }
};

void fprop_units(const Plan& plan, const float* x, float* y, bool nhwc) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  cpu::PoolRowGeom g = plan.g;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  const Divisors divisors(p);
  const int64_t C = nhwc ? p.C : 1;
  g.C = C;
  g.xs_w = nhwc ? xs[3] : 1;
  // planar: units are planes and y rows need unit stride along q; NHWC: units are images, y rows
  // need unit stride along c.
  const bool y_direct = nhwc ? ys[1] == 1 : ys[3] == 1;
  auto scratch = [&] {
    return FpropScratch{PaddedRows(plan, 0.0f), std::vector<int64_t>(static_cast<size_t>(p.kernel_h)),
                        std::vector<const float*>(static_cast<size_t>(p.kernel_h)),
                        std::vector<float>(static_cast<size_t>(p.Q)),
                        std::vector<float>(y_direct ? 0 : static_cast<size_t>(p.Q * C))};
  };
  const DivisorRows div_rows(p, divisors);
  for_each_item(nhwc ? p.N : p.N * p.C, p.P, p.Q * C * p.kernel_h * p.kernel_w, true, scratch,
                [&](FpropScratch& s, int64_t u, int64_t oa, int64_t ob) {
    const int64_t n = nhwc ? u : u / p.C, c = nhwc ? 0 : u % p.C;
    const float* base = x + (n * xs[0] + c * xs[1]);
    if (!nhwc && y_direct) {
      s.rows.reset();
      cpu::PlanarUnit unit = planar_unit(plan, base, y + (n * ys[0] + c * ys[1] + oa * ys[2]), ys[2], nullptr, 0,
                                         cpu::PoolIdx::none, oa, ob);
      unit.div = div_rows.row.data();
      k.avg_unit_planar(g, unit, s.rows.rows());
      return;
    }
    s.rows.reset();
    int64_t cached = -1;
    for (int64_t oh = oa; oh < ob; ++oh) {
      divisors.row(oh, s.div.data(), cached);
      float* yrow = y + (n * ys[0] + c * ys[1] + oh * ys[2]);
      float* yk = y_direct ? yrow : s.ybuf.data();
      if (nhwc) {
        const int64_t nrows = plan.window(oh, base, xs[2], s.hs.data(), s.ptrs.data());
        k.avg_row_nhwc(g, cpu::PoolRows{s.ptrs.data(), s.hs.data(), nrows}, s.div.data(), yk, y_direct ? ys[3] : C);
        for (int64_t q = 0; !y_direct && q < p.Q; ++q)
          for (int64_t cc = 0; cc < C; ++cc) yrow[q * ys[3] + cc * ys[1]] = s.ybuf[q * C + cc];
      } else {
        cpu::PlanarUnit unit = planar_unit(plan, base, yk, p.Q, nullptr, 0, cpu::PoolIdx::none, oh, oh + 1);
        unit.div = div_rows.row.data();
        k.avg_unit_planar(g, unit, s.rows.rows());
        for (int64_t q = 0; q < p.Q; ++q) yrow[q * ys[3]] = s.ybuf[q];
      }
    }
  });
}

struct DgradScratch {
  Ring ring;
  std::vector<float> div;
  std::vector<const float*> gr;
};

// dx (x_strides) by gathers; planar units are planes, NHWC units are blocks of channels of an image.
void dgrad_units(const Plan& plan, const float* dy, float* dx, bool nhwc) {
  const Pool2dParams& p = plan.p;
  const cpu::Pool2dKernels& k = plan.k;
  const int64_t* ds = p.x_strides;
  const int64_t* ys = p.y_strides;
  const Divisors divisors(p);
  cpu::GatherGeom g = plan.gg;
  int64_t cb = 1, blocks = p.C;
  if (nhwc) {
    cb = std::min<int64_t>(p.C, 64);
    while (cb > 16 && p.N * ((p.C + cb - 1) / cb) < 2 * static_cast<int64_t>(get_num_threads())) cb /= 2;
    blocks = (p.C + cb - 1) / cb;
    g.dx_ws = ds[3];
  }
  const int64_t at = nhwc ? 0 : g.margin;  // where a prepared row's data starts
  auto scratch = [&] {
    Ring ring(p, nhwc ? p.Q * cb : p.Q + 2 * g.margin, false, 0.0f, 0);
    const size_t slots = static_cast<size_t>(ring.slots);
    return DgradScratch{std::move(ring), std::vector<float>(static_cast<size_t>(p.Q)),
                        std::vector<const float*>(slots)};
  };
  const int64_t per_input = (p.kernel_h / p.stride_h + 1) * (p.kernel_w / p.stride_w + 1);
  // 2x2 windows, stride 2 (disjoint): each dx row written whole from the one output row covering it.
  const bool k2s2 = !nhwc && plan.g.k2s2 && k.lanes > 1 && ys[3] == 1;
  const DivisorRows div_rows(p, divisors);
  for_each_item(p.N * blocks, p.H, p.W * cb * per_input, true, scratch,
                [&](DgradScratch& s, int64_t u, int64_t ha, int64_t hb) {
    const int64_t n = u / blocks, c0 = (u % blocks) * cb, nc = std::min(cb, p.C - c0);
    if (k2s2) {
      cpu::PlanarUnit unit = planar_unit(plan, nullptr, nullptr, 0, nullptr, 0, cpu::PoolIdx::none, 0, 0);
      unit.div = div_rows.row.data();
      const cpu::DisjointDgrad d{dy + (n * ys[0] + c0 * ys[1]), ys[2], ys[3], dx + (n * ds[0] + c0 * ds[1]), ds[2],
                                 ha, hb, plan.cover.data(), nullptr, nullptr};
      k.avg_dgrad_2x2s2(plan.g, unit, d);
      return;
    }
    cpu::GatherGeom gu = g;
    gu.C = nc;
    gu.value_qs = nc;
    int64_t cached = -1;
    walk_rows(
        plan, ha, hb,
        [&](int64_t oh) {
          divisors.row(oh, s.div.data(), cached);
          k.divide_rows(dy + (n * ys[0] + c0 * ys[1] + oh * ys[2]), ys[3], ys[1], p.Q, nc, s.div.data(),
                        s.ring.value_row(oh) + at);
        },
        [&](int64_t h, int64_t first, int64_t n_oh) {
          for (int64_t i = 0; i < n_oh; ++i) s.gr[i] = s.ring.value_row(first + i);
          float* dxrow = dx + (n * ds[0] + c0 * ds[1] + h * ds[2]);
          if (nhwc) k.avg_gather_nhwc(gu, s.gr.data(), n_oh, dxrow);
          else k.avg_gather_planar(gu, s.gr.data(), n_oh, dxrow);
        });
  });
}

}  // namespace

bool avg_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y) {
  if (!fits_int32(p) || !scratch_fits(p)) return false;
  const bool nhwc = channels_inner(p, p.x_strides);
  if (nhwc && p.x_strides[1] != 1) return false;
  fprop_units(Plan(p, false), x, y, nhwc);
  return true;
}

bool avg_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, float* dx) {
  if (!fits_int32(p) || !scratch_fits(p)) return false;
  const bool nhwc = channels_inner(p, p.x_strides);
  if (nhwc ? p.x_strides[1] != 1 : p.x_strides[3] != 1) return false;
  dgrad_units(Plan(p, true), dy, dx, nhwc);
  return true;
}

}  // namespace fastconv
