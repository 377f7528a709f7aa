// Private binding _C._conv_index: the index arithmetic of the GPU implicit-GEMM convolutions
// (fastconv/conv_index.h), compiled for the CPU so that tests can check it without a GPU.
//
// emulate() runs the CUDA kernels' tile loop on the host with the same gathers, tile shapes,
// split-K partition, fragment-to-thread mapping and epilogues (in float64): zero-filled tile loads,
// per-thread 8x8 accumulation in increasing k, partial sums in the workspace layout and the
// split-order second pass. Only the arithmetic type and the parallel schedule differ from the GPU.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   any strides, float64
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "fastconv/conv.h"
#include "fastconv/conv_index.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using namespace conv_index;
using Pair = std::array<int64_t, 2>;
using F64Array = py::array_t<double, 0>;

Conv2dParams index_params(const py::array& x, const py::array& w, const py::array& y, Pair stride, Pair pad,
                          Pair dilation, int64_t groups) {
  Conv2dParams p;
  element_strides<4>(x, "x", p.x_strides);
  element_strides<4>(w, "w", p.w_strides);
  element_strides<4>(y, "y", p.y_strides);
  p.N = x.shape(0), p.C = x.shape(1), p.H = x.shape(2), p.W = x.shape(3);
  p.K = w.shape(0), p.R = w.shape(2), p.S = w.shape(3);
  p.P = y.shape(2), p.Q = y.shape(3);
  p.groups = groups;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = pad[0], p.pad_w = pad[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  if (groups < 1 || w.shape(1) * groups != p.C) throw py::value_error("weight channels * groups != input channels");
  if (y.shape(0) != p.N || y.shape(1) != p.K) throw py::value_error("output shape does not match input and weight");
  check_conv2d_params(p);
  if (!conv2d_implicit_gemm_fits(p)) throw py::value_error("problem exceeds the 32-bit GEMM index range");
  return p;
}

GemmTile parse_tile(const std::string& name) {
  if (name == "128x128") return GemmTile::t128x128;
  if (name == "64x64") return GemmTile::t64x64;
  if (name == "128x32") return GemmTile::t128x32;
  throw py::value_error("unknown tile '" + name + "' (128x128, 64x64, 128x32)");
}

std::string tile_name(GemmTile t) {
  const GemmTileShape s = gemm_tile_shape(t);
  return std::to_string(s.bm) + "x" + std::to_string(s.bn);
}

// The kernel's tile loop for one GEMM: grid (M tiles, N tiles, groups * splits), each CTA with
// (bm/8) x (bn/8) threads owning fragment_index() rows and columns.
template <class Gather, class Store>
void emulate_gemm(const Gather& g, const double* a, const double* b, int64_t groups, int32_t splits, GemmTile tile,
                  Store&& store) {
  const GemmTileShape t = gemm_tile_shape(tile);
  const int32_t bm = t.bm, bn = t.bn, bk = t.bk;
  std::vector<typename Gather::Row> rows(bm);
  std::vector<typename Gather::Col> cols(bn);
  std::vector<double> As(size_t(bk) * bm), Bs(size_t(bk) * bn), acc(size_t(bm) * bn);
  for (int64_t z = 0; z < groups * splits; ++z) {
    const int32_t group = int32_t(z / splits), split = int32_t(z % splits);
    const double* ag = a + group * g.a_group;
    const double* bg = b + group * g.b_group;
    int32_t k_begin, k_end;
    splitk_range(g.gemm_k, splits, split, bk, k_begin, k_end);
    const int32_t k_tiles = (k_end - k_begin + bk - 1) / bk;
    for (int32_t m0 = 0; m0 < g.gemm_m; m0 += bm) {
      for (int32_t n0 = 0; n0 < g.gemm_n; n0 += bn) {
        for (int32_t i = 0; i < bm; ++i) rows[i] = g.a_row(m0 + i);
        for (int32_t j = 0; j < bn; ++j) cols[j] = g.b_col(n0 + j);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int32_t kt = 0; kt < k_tiles; ++kt) {
          const int32_t kbase = k_begin + kt * bk;
          for (int32_t kl = 0; kl < bk; ++kl) {
            const int32_t kk = kbase + kl;
            for (int32_t ml = 0; ml < bm; ++ml) {
              int64_t off = 0;
              const bool ok = kk < k_end && g.a_offset(rows[ml], kk, off);
              As[size_t(kl) * bm + ml] = ok ? ag[off] : 0.0;
            }
            for (int32_t nl = 0; nl < bn; ++nl) {
              int64_t off = 0;
              const bool ok = kk < k_end && g.b_offset(cols[nl], kk, off);
              Bs[size_t(kl) * bn + nl] = ok ? bg[off] : 0.0;
            }
          }
          for (int32_t tm = 0; tm < bm / 8; ++tm)
            for (int32_t tn = 0; tn < bn / 8; ++tn)
              for (int32_t k = 0; k < bk; ++k)
                for (int32_t i = 0; i < 8; ++i)
                  for (int32_t j = 0; j < 8; ++j) {
                    const int32_t ml = fragment_index(bm, tm, i), nl = fragment_index(bn, tn, j);
                    acc[size_t(ml) * bn + nl] += As[size_t(k) * bm + ml] * Bs[size_t(k) * bn + nl];
                  }
        }
        for (int32_t tm = 0; tm < bm / 8; ++tm)
          for (int32_t tn = 0; tn < bn / 8; ++tn)
            for (int32_t i = 0; i < 8; ++i)
              for (int32_t j = 0; j < 8; ++j) {
                const int32_t ml = fragment_index(bm, tm, i), nl = fragment_index(bn, tn, j);
                store(group, split, m0 + ml, n0 + nl, acc[size_t(ml) * bn + nl]);
              }
      }
    }
  }
}

void emulate_fprop(const F64Array& x, const F64Array& w, const std::optional<F64Array>& b, F64Array y, Pair stride,
                   Pair pad, Pair dilation, int64_t groups, const std::string& tile) {
  Conv2dParams p = index_params(x, w, y, stride, pad, dilation, groups);
  if (b) p.b_stride = b->strides(0) / int64_t(sizeof(double));
  const Conv2dFpropGather g = make_fprop_gather(p);
  const GemmTile t = tile == "auto" ? choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups) : parse_tile(tile);
  double* yp = static_cast<double*>(writable_data(y, "y"));
  const double* bp = b ? b->data() : nullptr;
  emulate_gemm(g, x.data(), w.data(), p.groups, 1, t, [&](int32_t group, int32_t, int32_t m, int32_t n, double v) {
    int64_t off;
    if (!g.c_offset(m, n, off)) return;
    if (bp != nullptr) v += bp[(int64_t(group) * g.gemm_n + n) * p.b_stride];
    yp[group * g.c_group + off] = v;
  });
}

void emulate_dgrad(const F64Array& dy, const F64Array& w, F64Array dx, Pair stride, Pair pad, Pair dilation,
                   int64_t groups, const std::string& tile) {
  const Conv2dParams p = index_params(dx, w, dy, stride, pad, dilation, groups);
  double* dxp = static_cast<double*>(writable_data(dx, "dx"));
  for (int32_t phase = 0; phase < int32_t(p.stride_h * p.stride_w); ++phase) {
    const Conv2dDgradGather g = make_dgrad_gather(p, phase);
    const GemmTile t = tile == "auto" ? choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups) : parse_tile(tile);
    emulate_gemm(g, dy.data(), w.data(), p.groups, 1, t, [&](int32_t group, int32_t, int32_t m, int32_t c, double v) {
      int64_t off;
      if (g.c_offset(m, c, off)) dxp[group * g.c_group + off] = v;
    });
  }
}

// splits = 0: the kernels' choice (conv2d_wgrad_splits).
void emulate_wgrad(const F64Array& dy, const F64Array& x, F64Array dw, Pair stride, Pair pad, Pair dilation,
                   int64_t groups, const std::string& tile, int32_t splits) {
  const Conv2dParams p = index_params(x, dw, dy, stride, pad, dilation, groups);
  const Conv2dWgradGather g = make_wgrad_gather(p);
  const GemmTile t = tile == "auto" ? choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups) : parse_tile(tile);
  if (splits <= 0) splits = conv2d_wgrad_splits(p);
  double* dwp = static_cast<double*>(writable_data(dw, "dw"));
  const int64_t per_group = int64_t(g.gemm_m) * g.gemm_n, total = p.groups * per_group;
  std::vector<double> partial(size_t(splits > 1 ? splits * total : 0), std::numeric_limits<double>::quiet_NaN());
  emulate_gemm(g, dy.data(), x.data(), p.groups, splits, t, [&](int32_t group, int32_t split, int32_t m, int32_t n,
                                                                double v) {
    if (m >= g.gemm_m || n >= g.gemm_n) return;
    if (splits > 1) {
      partial[size_t(((split * p.groups + group) * g.gemm_m + m) * int64_t(g.gemm_n) + n)] = v;
      return;
    }
    int64_t off;
    if (g.c_offset(m, n, off)) dwp[group * g.c_group + off] = v;
  });
  if (splits <= 1) return;
  for (int64_t i = 0; i < total; ++i) {  // the reduction kernel, one element per thread
    double sum = 0.0;
    for (int32_t s = 0; s < splits; ++s) sum += partial[size_t(s * total + i)];
    const int64_t group = i / per_group, mn = i % per_group;
    int64_t off;
    if (g.c_offset(int32_t(mn / g.gemm_n), int32_t(mn % g.gemm_n), off)) dwp[group * g.c_group + off] = sum;
  }
}

py::dict plan(const py::array& x, const py::array& w, const py::array& y, Pair stride, Pair pad, Pair dilation,
              int64_t groups) {
  const Conv2dParams p = index_params(x, w, y, stride, pad, dilation, groups);
  const Conv2dFpropGather f = make_fprop_gather(p);
  const Conv2dWgradGather wg = make_wgrad_gather(p);
  py::dict d;
  d["fprop_tile"] = tile_name(choose_gemm_tile(f.gemm_m, f.gemm_n, p.groups));
  d["wgrad_tile"] = tile_name(choose_gemm_tile(wg.gemm_m, wg.gemm_n, p.groups));
  d["wgrad_splits"] = conv2d_wgrad_splits(p);
  d["fprop_workspace_bytes"] = conv2d_fprop_workspace_bytes(p);
  d["dgrad_workspace_bytes"] = conv2d_dgrad_workspace_bytes(p);
  d["wgrad_workspace_bytes"] = conv2d_wgrad_workspace_bytes(p);
  d["bgrad_workspace_bytes"] = conv2d_bgrad_workspace_bytes(p);
  py::list gemms;
  for (int32_t phase = 0; phase < int32_t(p.stride_h * p.stride_w); ++phase) {
    const Conv2dDgradGather g = make_dgrad_gather(p, phase);
    gemms.append(py::make_tuple(g.gemm_m, g.gemm_n, g.gemm_k));
  }
  d["dgrad_phase_gemms"] = gemms;
  d["fprop_gemm"] = py::make_tuple(f.gemm_m, f.gemm_n, f.gemm_k);
  d["wgrad_gemm"] = py::make_tuple(wg.gemm_m, wg.gemm_n, wg.gemm_k);
  return d;
}

py::tuple fastdivmod(int64_t divisor, const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& values) {
  if (divisor < 1 || divisor >= (int64_t(1) << 31)) throw py::value_error("divisor must be in [1, 2^31)");
  const FastDivmod d{int32_t(divisor)};
  py::array_t<int64_t> quo(values.size()), rem(values.size());
  const int64_t* v = values.data();
  int64_t* q = quo.mutable_data();
  int64_t* r = rem.mutable_data();
  for (py::ssize_t i = 0; i < values.size(); ++i) {
    if (v[i] < 0 || v[i] >= (int64_t(1) << 31)) throw py::value_error("dividends must be in [0, 2^31)");
    int32_t qq, rr;
    d.divmod(int32_t(v[i]), qq, rr);
    q[i] = qq, r[i] = rr;
  }
  return py::make_tuple(quo, rem);
}

}  // namespace

void register_conv_index(py::module_& parent) {
  py::module_ m = parent.def_submodule("_conv_index", "index arithmetic of the GPU implicit-GEMM convolutions");
  m.def("fastdivmod", &fastdivmod, py::arg("divisor"), py::arg("values"));
  m.def("splitk_range", [](int32_t k_total, int32_t splits, int32_t split, int32_t bk) {
    int32_t b, e;
    splitk_range(k_total, splits, split, bk, b, e);
    return py::make_tuple(b, e);
  });
  m.def("dgrad_axis_phase", [](int32_t in, int32_t k, int32_t stride, int32_t pad, int32_t dilation, int32_t res) {
    const DgradAxisPhase ph = dgrad_axis_phase(in, k, stride, pad, dilation, res);
    return py::make_tuple(ph.x0, ph.count, ph.t0, ph.tstep, ph.taps);
  });
  m.def("fragment_index", &fragment_index);
  m.def("tile_load_coord", [](int32_t extent, int32_t bk, int32_t threads, bool along_k, int32_t tid, int32_t j) {
    int32_t index, kl;
    tile_load_coord(extent, bk, threads, along_k, tid, j, index, kl);
    return py::make_tuple(index, kl);
  });
  m.def("tile_load_slots", [](int32_t extent, int32_t bk, int32_t threads, bool along_k) {
    return tile_load_slots(extent, bk, threads, along_k);
  });
  m.def("tile_shapes", []() {
    py::list out;
    for (GemmTile t : {GemmTile::t128x128, GemmTile::t64x64, GemmTile::t128x32}) {
      const GemmTileShape s = gemm_tile_shape(t);
      out.append(py::make_tuple(tile_name(t), s.bm, s.bn, s.bk));
    }
    return out;
  });
  m.def("plan", &plan);
  m.def("emulate_fprop", &emulate_fprop, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("stride"),
        py::arg("pad"), py::arg("dilation"), py::arg("groups"), py::arg("tile") = "auto");
  m.def("emulate_dgrad", &emulate_dgrad, py::arg("dy"), py::arg("w"), py::arg("dx"), py::arg("stride"),
        py::arg("pad"), py::arg("dilation"), py::arg("groups"), py::arg("tile") = "auto");
  m.def("emulate_wgrad", &emulate_wgrad, py::arg("dy"), py::arg("x"), py::arg("dw"), py::arg("stride"),
        py::arg("pad"), py::arg("dilation"), py::arg("groups"), py::arg("tile") = "auto", py::arg("splits") = 0);
}

}  // namespace bindings
}  // namespace fastconv
