// Private binding _C._conv_index: the index arithmetic of the GPU implicit-GEMM convolutions
// (fastconv/conv_index.h), compiled for the CPU so that tests can check it without a GPU.
//
// emulate_*() run the CUDA kernels' tile loops on the host in float64 (implicit_gemm_emulation.h):
// the same gathers, tile shapes, split-K partition, per-thread fragments and epilogues, zero-filled
// tile loads, partial sums in the workspace layout and the split-order second pass.
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
#include "bindings/implicit_gemm_emulation.h"
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
  if (name == "128x64") return GemmTile::t128x64;
  throw py::value_error("unknown tile '" + name + "' (128x128, 64x64, 128x32, 128x64)");
}

std::string tile_name(GemmTile t) {
  const GemmTileShape s = gemm_tile_shape(t);
  return std::to_string(s.bm) + "x" + std::to_string(s.bn);
}

// "auto": the kernels' choice; else a forced shape.
std::optional<int> tile_arg(const std::string& tile) {
  if (tile == "auto") return std::nullopt;
  return int(parse_tile(tile));
}

void emulate_fprop(const F64Array& x, const F64Array& w, const std::optional<F64Array>& b, F64Array y, Pair stride,
                   Pair pad, Pair dilation, int64_t groups, const std::string& tile) {
  Conv2dParams p = index_params(x, w, y, stride, pad, dilation, groups);
  if (b) p.b_stride = b->strides(0) / int64_t(sizeof(double));
  const std::optional<int> t = tile_arg(tile);
  emulation::conv2d_fprop_implicit_gemm<double>(p, x.data(), w.data(), b ? b->data() : nullptr,
                                                static_cast<double*>(writable_data(y, "y")), t ? &*t : nullptr);
}

void emulate_dgrad(const F64Array& dy, const F64Array& w, F64Array dx, Pair stride, Pair pad, Pair dilation,
                   int64_t groups, const std::string& tile) {
  const Conv2dParams p = index_params(dx, w, dy, stride, pad, dilation, groups);
  const std::optional<int> t = tile_arg(tile);
  emulation::conv2d_dgrad_implicit_gemm<double>(p, dy.data(), w.data(), static_cast<double*>(writable_data(dx, "dx")),
                                                t ? &*t : nullptr);
}

// splits = 0: the kernels' choice (conv2d_wgrad_splits). The partial sums start as NaN so that a
// partial the second pass reads but no CTA wrote shows.
void emulate_wgrad(const F64Array& dy, const F64Array& x, F64Array dw, Pair stride, Pair pad, Pair dilation,
                   int64_t groups, const std::string& tile, int32_t splits) {
  const Conv2dParams p = index_params(x, dw, dy, stride, pad, dilation, groups);
  if (splits <= 0) splits = conv2d_wgrad_splits(p);
  const std::optional<int> t = tile_arg(tile);
  std::vector<double> partial(size_t(splits) * p.K * p.R * p.S * p.C_per_group(),
                              std::numeric_limits<double>::quiet_NaN());
  emulation::conv2d_wgrad_implicit_gemm<double>(p, dy.data(), x.data(), static_cast<double*>(writable_data(dw, "dw")),
                                                partial.data(), splits, t ? &*t : nullptr);
}

void emulate_bgrad(const F64Array& dy, F64Array db) {
  Conv2dParams p;
  element_strides<4>(dy, "dy", p.y_strides);
  p.N = dy.shape(0), p.K = dy.shape(1), p.P = dy.shape(2), p.Q = dy.shape(3);
  if (db.ndim() != 1 || db.shape(0) != p.K) throw py::value_error("db must have shape (K,)");
  p.b_stride = db.strides(0) / int64_t(sizeof(double));
  emulation::conv2d_bgrad<double>(p, dy.data(), static_cast<double*>(writable_data(db, "db")));
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
    for (GemmTile t : {GemmTile::t128x128, GemmTile::t64x64, GemmTile::t128x32, GemmTile::t128x64}) {
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
  m.def("emulate_bgrad", &emulate_bgrad, py::arg("dy"), py::arg("db"));
  m.def("emulate_wgrad", &emulate_wgrad, py::arg("dy"), py::arg("x"), py::arg("dw"), py::arg("stride"),
        py::arg("pad"), py::arg("dilation"), py::arg("groups"), py::arg("tile") = "auto", py::arg("splits") = 0);
}

}  // namespace bindings
}  // namespace fastconv
