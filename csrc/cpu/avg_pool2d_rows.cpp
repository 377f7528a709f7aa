// Average pooling by rows (pool2d_rows.h), float32.
//   x, dx: (N, C, H, W)    y, dy: (N, C, P, Q)
//
// The divisor of window (oh, ow) is avg_pool2d.cpp's, a product of one factor per axis (or the
// override), converted to float once per output row. Forward sums the inside taps from +0 in
// row-major order and divides once; backward prepares g = dy / divisor per output row and gathers
// each dx element as the sum of g over the covering windows in (oh, ow) order from +0: the same
// operations, in the same order, as avg_pool2d.cpp.
#include <cstring>
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

void fprop_units(const Pool2dParams& p, const float* x, float* y, bool nhwc) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  cpu::PoolRowGeom g = row_geom(p);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  const Divisors divisors(p);
  const int64_t C = nhwc ? p.C : 1;
  g.C = C;
  g.xs_w = nhwc ? xs[3] : 1;
  std::vector<int32_t> taps(static_cast<size_t>(2 * p.Q));
  cpu::pool_tap_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, 1, taps.data());
  g.taps = taps.data();
  const PlanarLayout layout(p, k.lanes);
  layout.apply(g);
  // planar: units are planes and y rows need unit stride along q; NHWC: units are images, y rows
  // need unit stride along c.
  const bool y_direct = nhwc ? ys[1] == 1 : ys[3] == 1;
  const int64_t units = nhwc ? p.N : p.N * p.C;
  for_each_item(units, p.P, p.Q * C * p.kernel_h * p.kernel_w, true, [&](int64_t u, int64_t oa, int64_t ob) {
    const int64_t n = nhwc ? u : u / p.C, c = nhwc ? 0 : u % p.C;
    const float* base = x + (n * xs[0] + c * xs[1]);
    std::vector<int64_t> hs(static_cast<size_t>(p.kernel_h));
    std::vector<const float*> ptrs(static_cast<size_t>(p.kernel_h));
    std::vector<float> div(static_cast<size_t>(p.Q));
    std::vector<float> ybuf(y_direct ? 0 : static_cast<size_t>(p.Q * C));
    PaddedRows padded(p, layout, k.lanes, 0.0f);
    int64_t cached = -1;
    for (int64_t oh = oa; oh < ob; ++oh) {
      divisors.row(oh, div.data(), cached);
      int64_t first_h;
      const int64_t nrows = window_rows(p, oh, base, xs[2], hs.data(), ptrs.data(), &first_h);
      bool nan = false;
      for (int64_t r = 0; !nhwc && r < nrows; ++r) ptrs[r] = padded.get(k, hs[r], ptrs[r], xs[3], nan);
      float* yrow = y + (n * ys[0] + c * ys[1] + oh * ys[2]);
      float* yk = y_direct ? yrow : ybuf.data();
      const cpu::PoolRows rows{ptrs.data(), hs.data(), nrows};
      if (nhwc) {
        k.avg_row_nhwc(g, rows, div.data(), yk, y_direct ? ys[3] : C);
        for (int64_t q = 0; !y_direct && q < p.Q; ++q)
          for (int64_t cc = 0; cc < C; ++cc) yrow[q * ys[3] + cc * ys[1]] = ybuf[q * C + cc];
      } else {
        k.avg_row_planar(g, rows, div.data(), yk);
        for (int64_t q = 0; !y_direct && q < p.Q; ++q) yrow[q * ys[3]] = ybuf[q];
      }
    }
  });
}

// dx (x_strides) by gathers; planar units are planes, NHWC units are blocks of channels of an image.
void dgrad_units(const Pool2dParams& p, const float* dy, float* dx, bool nhwc) {
  const cpu::Pool2dKernels& k = cpu::pool2d_kernels();
  const int64_t* ds = p.x_strides;
  const int64_t* ys = p.y_strides;
  const Divisors divisors(p);
  cpu::GatherGeom g;
  g.W = p.W, g.Q = p.Q, g.kw = p.kernel_w, g.sw = p.stride_w, g.pw = p.pad_w;
  std::vector<int32_t> cols(static_cast<size_t>(2 * p.W));
  cpu::pool_cover_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, cols.data());
  g.cols = cols.data();
  int64_t cb = 1, blocks = p.C;
  std::vector<int32_t> perm, cover;
  if (nhwc) {
    cb = std::min<int64_t>(p.C, 64);
    while (cb > 16 && p.N * ((p.C + cb - 1) / cb) < 2 * static_cast<int64_t>(get_num_threads())) cb /= 2;
    blocks = (p.C + cb - 1) / cb;
    g.dx_ws = ds[3];
  } else {
    g.J = p.stride_w == 1 ? p.kernel_w : (p.kernel_w + p.stride_w - 1) / p.stride_w;
    g.margin = k.lanes + p.kernel_w + g.J + 4;
    perm.resize(static_cast<size_t>(g.J * k.lanes));
    cover.resize(perm.size());
    if (p.stride_w > 1 &&
        cpu::pool2d_gather_tables(k.lanes, p.kernel_w, p.stride_w, p.pad_w, g.J, perm.data(), cover.data())) {
      g.perm = perm.data();
      g.cover = cover.data();
    }
  }
  const int64_t per_input = (p.kernel_h / p.stride_h + 1) * (p.kernel_w / p.stride_w + 1);
  for_each_item(p.N * blocks, p.H, p.W * cb * per_input, true, [&](int64_t u, int64_t ha, int64_t hb) {
    const int64_t n = u / blocks, c0 = (u % blocks) * cb, nc = std::min(cb, p.C - c0);
    cpu::GatherGeom gu = g;
    gu.C = nc;
    const int64_t row_len = nhwc ? p.Q * nc : p.Q + 2 * g.margin;
    const int64_t at = nhwc ? 0 : g.margin;
    Ring ring(p.kernel_h, p.stride_h, row_len, false, 0.0f, 0);
    std::vector<float> div(static_cast<size_t>(p.Q));
    std::vector<const float*> gr(static_cast<size_t>(ring.slots));
    int64_t cached = -1;
    walk_rows(
        p, ha, hb,
        [&](int64_t oh) {
          divisors.row(oh, div.data(), cached);
          float* out = ring.value_row(oh) + at;
          const float* dyo = dy + (n * ys[0] + c0 * ys[1] + oh * ys[2]);
          for (int64_t q = 0; q < p.Q; ++q)
            for (int64_t c = 0; c < nc; ++c) out[q * nc + c] = dyo[q * ys[3] + c * ys[1]] / div[q];
        },
        [&](int64_t h, int64_t first, int64_t n_oh) {
          for (int64_t i = 0; i < n_oh; ++i) gr[i] = ring.value_row(first + i);
          float* dxrow = dx + (n * ds[0] + c0 * ds[1] + h * ds[2]);
          if (nhwc) k.avg_gather_nhwc(gu, gr.data(), n_oh, dxrow);
          else k.avg_gather_planar(gu, gr.data(), n_oh, dxrow);
        });
  });
}

}  // namespace

bool avg_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y) {
  if (!fits_int32(p)) return false;
  const bool nhwc = channels_inner(p, p.x_strides);
  if (nhwc && p.x_strides[1] != 1) return false;
  fprop_units(p, x, y, nhwc);
  return true;
}

bool avg_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, float* dx) {
  if (!fits_int32(p)) return false;
  const bool nhwc = channels_inner(p, p.x_strides);
  if (nhwc ? p.x_strides[1] != 1 : p.x_strides[3] != 1) return false;
  dgrad_units(p, dy, dx, nhwc);
  return true;
}

}  // namespace fastconv
