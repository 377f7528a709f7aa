// conv2d bindings: arrays in logical axis order -> Conv2dParams -> CPU kernels, GIL released.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>
#include <string>

#include "bindings/arrays.h"
#include "fastconv/conv.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using Pair = std::array<int64_t, 2>;

Conv2dAlgorithm parse_algorithm(const std::string& name) {
  if (name == "auto") return Conv2dAlgorithm::automatic;
  if (name == "implicit_gemm") return Conv2dAlgorithm::implicit_gemm;
  if (name == "direct") return Conv2dAlgorithm::direct;
  if (name == "winograd") return Conv2dAlgorithm::winograd;
  throw py::value_error("conv2d: unknown algorithm '" + name + "'");
}

Conv2dParams make_params(const py::array& x, const py::array& w, const py::array& y, Pair stride, Pair padding,
                         Pair dilation, int64_t groups, const std::string& algorithm) {
  Conv2dParams p;
  p.algorithm = parse_algorithm(algorithm);
  element_strides<4>(x, "input", p.x_strides);
  element_strides<4>(w, "weight", p.w_strides);
  element_strides<4>(y, "output", p.y_strides);
  p.N = x.shape(0), p.C = x.shape(1), p.H = x.shape(2), p.W = x.shape(3);
  p.K = w.shape(0), p.R = w.shape(2), p.S = w.shape(3);
  p.P = y.shape(2), p.Q = y.shape(3);
  p.groups = groups;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  if (y.shape(0) != p.N || y.shape(1) != p.K) throw py::value_error("conv2d: output shape does not match input and weight");
  if (groups > 0 && w.shape(1) * groups != p.C) throw py::value_error("conv2d: weight channels * groups != input channels");
  check_conv2d_params(p);
  if (!conv2d_algorithm_supported(p, p.algorithm))
    throw py::value_error("conv2d: algorithm='" + algorithm + "' does not apply to this problem");
  return p;
}

void fprop(const py::array& x, const py::array& w, const std::optional<py::array>& b, py::array y, Pair stride,
           Pair padding, Pair dilation, int64_t groups, const std::string& algorithm) {
  require_same_dtype(x, w, "input", "weight");
  require_same_dtype(x, y, "input", "output");
  Conv2dParams p = make_params(x, w, y, stride, padding, dilation, groups, algorithm);
  const void* bptr = nullptr;
  if (b) {
    require_same_dtype(x, *b, "input", "bias");
    if (b->ndim() != 1 || b->shape(0) != p.K) throw py::value_error("conv2d: bias must have shape (out_channels,)");
    p.b_stride = b->strides(0) / b->itemsize();
    bptr = b->data();
  }
  void* yptr = writable_data(y, "output");
  const void* xptr = x.data();
  const void* wptr = w.data();
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    conv2d_fprop<T>(p, static_cast<const T*>(xptr), static_cast<const T*>(wptr), static_cast<const T*>(bptr),
                    static_cast<T*>(yptr));
  });
}

void dgrad(const py::array& dy, const py::array& w, py::array dx, Pair stride, Pair padding, Pair dilation,
           int64_t groups, const std::string& algorithm) {
  require_same_dtype(dy, w, "grad_output", "weight");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  const Conv2dParams p = make_params(dx, w, dy, stride, padding, dilation, groups, algorithm);
  void* dxptr = writable_data(dx, "grad_input");
  const void* dyptr = dy.data();
  const void* wptr = w.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    conv2d_dgrad<T>(p, static_cast<const T*>(dyptr), static_cast<const T*>(wptr), static_cast<T*>(dxptr));
  });
}

void wgrad(const py::array& dy, const py::array& x, py::array dw, Pair stride, Pair padding, Pair dilation,
           int64_t groups, const std::string& algorithm) {
  require_same_dtype(dy, x, "grad_output", "input");
  require_same_dtype(dy, dw, "grad_output", "grad_weight");
  const Conv2dParams p = make_params(x, dw, dy, stride, padding, dilation, groups, algorithm);
  void* dwptr = writable_data(dw, "grad_weight");
  const void* dyptr = dy.data();
  const void* xptr = x.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    conv2d_wgrad<T>(p, static_cast<const T*>(dyptr), static_cast<const T*>(xptr), static_cast<T*>(dwptr));
  });
}

void bgrad(const py::array& dy, py::array db) {
  require_same_dtype(dy, db, "grad_output", "grad_bias");
  Conv2dParams p;
  element_strides<4>(dy, "grad_output", p.y_strides);
  if (db.ndim() != 1 || db.shape(0) != dy.shape(1)) throw py::value_error("conv2d: grad_bias must have shape (out_channels,)");
  p.N = dy.shape(0), p.K = dy.shape(1), p.P = dy.shape(2), p.Q = dy.shape(3);
  p.b_stride = db.strides(0) / db.itemsize();
  void* dbptr = writable_data(db, "grad_bias");
  const void* dyptr = dy.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    conv2d_bgrad<T>(p, static_cast<const T*>(dyptr), static_cast<T*>(dbptr));
  });
}

// dx, dw, db (each None when not wanted) in one call where one pass serves them (conv.h); false,
// nothing written, where it does not apply.
bool backward(const py::array& dy, const py::array& x, const py::array& w, std::optional<py::array> dx,
              std::optional<py::array> dw, std::optional<py::array> db, Pair stride, Pair padding, Pair dilation,
              int64_t groups, const std::string& algorithm) {
  require_same_dtype(dy, x, "grad_output", "input");
  require_same_dtype(dy, w, "grad_output", "weight");
  Conv2dParams p = make_params(x, w, dy, stride, padding, dilation, groups, algorithm);
  int64_t dx_strides[4] = {0, 0, 0, 0}, dw_strides[4] = {0, 0, 0, 0};
  void *dxptr = nullptr, *dwptr = nullptr, *dbptr = nullptr;
  if (dx) {
    require_same_dtype(dy, *dx, "grad_output", "grad_input");
    if (dx->ndim() != 4 || !std::equal(dx->shape(), dx->shape() + 4, x.shape()))
      throw py::value_error("conv2d: grad_input must have the input's shape");
    element_strides<4>(*dx, "grad_input", dx_strides);
    dxptr = writable_data(*dx, "grad_input");
  }
  if (dw) {
    require_same_dtype(dy, *dw, "grad_output", "grad_weight");
    if (dw->ndim() != 4 || !std::equal(dw->shape(), dw->shape() + 4, w.shape()))
      throw py::value_error("conv2d: grad_weight must have the weight's shape");
    element_strides<4>(*dw, "grad_weight", dw_strides);
    dwptr = writable_data(*dw, "grad_weight");
  }
  if (db) {
    require_same_dtype(dy, *db, "grad_output", "grad_bias");
    if (db->ndim() != 1 || db->shape(0) != p.K) throw py::value_error("conv2d: grad_bias must have shape (out_channels,)");
    p.b_stride = db->strides(0) / db->itemsize();
    dbptr = writable_data(*db, "grad_bias");
  }
  const void* dyptr = dy.data();
  const void* xptr = x.data();
  const void* wptr = w.data();
  bool done = false;
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    done = conv2d_backward<T>(p, static_cast<const T*>(dyptr), static_cast<const T*>(xptr), static_cast<const T*>(wptr),
                              static_cast<T*>(dxptr), dx_strides, static_cast<T*>(dwptr), dw_strides,
                              static_cast<T*>(dbptr));
  });
  return done;
}

}  // namespace

void register_conv2d(py::module_& m) {
  m.def("conv2d_fprop", &fprop, py::arg("x"), py::arg("w"), py::arg("b").none(true), py::arg("y"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_dgrad", &dgrad, py::arg("dy"), py::arg("w"), py::arg("dx"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_wgrad", &wgrad, py::arg("dy"), py::arg("x"), py::arg("dw"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_bgrad", &bgrad, py::arg("dy"), py::arg("db"));
  m.def("conv2d_backward", &backward, py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("dx").none(true),
        py::arg("dw").none(true), py::arg("db").none(true), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
}

}  // namespace bindings
}  // namespace fastconv
