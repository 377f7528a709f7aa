// 3-D and adaptive pooling bindings: arrays in logical axis order -> Pool3dParams -> CPU kernels, GIL
// released. 1-D and 2-D adaptive pools arrive here as views with unit depth (and height).
//   x, dx: (N, C, D, H, W)   y, dy, indices: (N, C, Z, P, Q)   indices: int64, flat d * H * W + h * W + w
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "bindings/arrays.h"
#include "fastconv/pool3d.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using Triple = std::array<int64_t, 3>;

Pool3dParams make_params(const char* op, const py::array& x, const char* x_name, const py::array& y,
                         const char* y_name) {
  Pool3dParams p;
  element_strides<5>(x, x_name, p.x_strides);
  element_strides<5>(y, y_name, p.y_strides);
  p.N = x.shape(0), p.C = x.shape(1), p.D = x.shape(2), p.H = x.shape(3), p.W = x.shape(4);
  p.Z = y.shape(2), p.P = y.shape(3), p.Q = y.shape(4);
  if (y.shape(0) != p.N || y.shape(1) != p.C)
    throw py::value_error(std::string(op) + ": " + y_name + " batch and channels do not match " + x_name);
  return p;
}

void set_window(Pool3dParams& p, Triple kernel, Triple stride, Triple padding, Triple dilation) {
  for (int a = 0; a < 3; ++a) {
    p.kernel[a] = kernel[a], p.stride[a] = stride[a], p.pad[a] = padding[a], p.dilation[a] = dilation[a];
  }
}

void set_indices(const char* op, const py::array& indices, const py::array& y, int64_t out[5]) {
  if (!indices.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": indices must be int64, got " + std::string(py::str(indices.dtype())));
  element_strides<5>(indices, "indices", out);
  for (int i = 0; i < 5; ++i)
    if (indices.shape(i) != y.shape(i)) throw py::value_error(std::string(op) + ": indices must match the output shape");
}

void set_dx(const char* op, const py::array& dx, const py::array& x, int64_t out[5]) {
  element_strides<5>(dx, "grad_input", out);
  for (int i = 0; i < 5; ++i)
    if (dx.shape(i) != x.shape(i)) throw py::value_error(std::string(op) + ": grad_input must have the input's shape");
}

// Forward of a max pool (windowed or adaptive): y and optional indices from x.
template <typename Kernel>
void max_forward(const char* op, bool adaptive, const py::array& x, py::array y, std::optional<py::array> indices,
                 Triple kernel, Triple stride, Triple padding, Triple dilation, Kernel&& run) {
  require_same_dtype(x, y, "input", "output");
  Pool3dParams p = make_params(op, x, "input", y, "output");
  int64_t* iptr = nullptr;
  if (indices) {
    set_indices(op, *indices, y, p.i_strides);
    iptr = static_cast<int64_t*>(writable_data(*indices, "indices"));
  }
  if (adaptive) {
    check_adaptive_pool3d_params(p);
  } else {
    set_window(p, kernel, stride, padding, dilation);
    check_pool3d_params(p);
  }
  void* yptr = writable_data(y, "output");
  const void* xptr = x.data();
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    run(p, static_cast<const T*>(xptr), static_cast<T*>(yptr), iptr);
  });
}

template <typename Kernel>
void max_backward(const char* op, bool adaptive, const py::array& dy, const py::array& x,
                  std::optional<py::array> indices, py::array dx, Triple kernel, Triple stride, Triple padding,
                  Triple dilation, Kernel&& run) {
  require_same_dtype(dy, x, "grad_output", "input");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  Pool3dParams p = make_params(op, x, "input", dy, "grad_output");
  set_dx(op, dx, x, p.dx_strides);
  const int64_t* iptr = nullptr;
  if (indices) {
    set_indices(op, *indices, dy, p.i_strides);
    iptr = static_cast<const int64_t*>(indices->data());
  }
  if (adaptive) {
    check_adaptive_pool3d_params(p);
  } else {
    set_window(p, kernel, stride, padding, dilation);
    check_pool3d_params(p);
  }
  void* dxptr = writable_data(dx, "grad_input");
  const void* dyptr = dy.data();
  const void* xptr = x.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    run(p, static_cast<const T*>(dyptr), static_cast<const T*>(xptr), iptr, static_cast<T*>(dxptr));
  });
}

// Average pools: `a` is x (forward) or dx (backward), `b` is y or dy; run(p, src, dst).
template <typename Kernel>
void avg_pass(const char* op, bool adaptive, bool forward, const py::array& a, py::array b, Triple kernel,
              Triple stride, Triple padding, bool count_include_pad, int64_t divisor_override, Kernel&& run) {
  require_same_dtype(a, b, forward ? "input" : "grad_input", forward ? "output" : "grad_output");
  Pool3dParams p = make_params(op, a, forward ? "input" : "grad_input", b, forward ? "output" : "grad_output");
  if (adaptive) {
    check_adaptive_pool3d_params(p);
  } else {
    set_window(p, kernel, stride, padding, Triple{1, 1, 1});
    p.count_include_pad = count_include_pad;
    p.divisor_override = divisor_override;
    check_pool3d_params(p);
  }
  py::array& dst = forward ? b : const_cast<py::array&>(a);
  const py::array& src = forward ? a : b;
  void* dptr = writable_data(dst, forward ? "output" : "grad_input");
  const void* sptr = src.data();
  dispatch(dtype_of(a, "input"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    run(p, static_cast<const T*>(sptr), static_cast<T*>(dptr));
  });
}

const Triple kNone{1, 1, 1};
const Triple kZero{0, 0, 0};

}  // namespace

void register_pool3d(py::module_& m) {
  m.def("max_pool3d_fprop",
        [](const py::array& x, py::array y, std::optional<py::array> indices, Triple kernel, Triple stride,
           Triple padding, Triple dilation) {
          max_forward("max_pool3d", false, x, y, indices, kernel, stride, padding, dilation,
                      [](const Pool3dParams& p, auto x, auto y, int64_t* i) { max_pool3d_fprop(p, x, y, i); });
        },
        py::arg("x"), py::arg("y"), py::arg("indices").none(true), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"));
  m.def("max_pool3d_dgrad",
        [](const py::array& dy, const py::array& x, std::optional<py::array> indices, py::array dx, Triple kernel,
           Triple stride, Triple padding, Triple dilation) {
          max_backward("max_pool3d_backward", false, dy, x, indices, dx, kernel, stride, padding, dilation,
                       [](const Pool3dParams& p, auto dy, auto x, const int64_t* i, auto dx) {
                         max_pool3d_dgrad(p, dy, x, i, dx);
                       });
        },
        py::arg("dy"), py::arg("x"), py::arg("indices").none(true), py::arg("dx"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("avg_pool3d_fprop",
        [](const py::array& x, py::array y, Triple kernel, Triple stride, Triple padding, bool cip, int64_t div) {
          avg_pass("avg_pool3d", false, true, x, y, kernel, stride, padding, cip, div,
                   [](const Pool3dParams& p, auto x, auto y) { avg_pool3d_fprop(p, x, y); });
        },
        py::arg("x"), py::arg("y"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("avg_pool3d_dgrad",
        [](const py::array& dy, py::array dx, Triple kernel, Triple stride, Triple padding, bool cip, int64_t div) {
          avg_pass("avg_pool3d_backward", false, false, dx, dy, kernel, stride, padding, cip, div,
                   [](const Pool3dParams& p, auto dy, auto dx) { avg_pool3d_dgrad(p, dy, dx); });
        },
        py::arg("dy"), py::arg("dx"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("adaptive_avg_pool3d_fprop",
        [](const py::array& x, py::array y) {
          avg_pass("adaptive_avg_pool", true, true, x, y, kNone, kNone, kZero, true, 0,
                   [](const Pool3dParams& p, auto x, auto y) { adaptive_avg_pool3d_fprop(p, x, y); });
        },
        py::arg("x"), py::arg("y"));
  m.def("adaptive_avg_pool3d_dgrad",
        [](const py::array& dy, py::array dx) {
          avg_pass("adaptive_avg_pool_backward", true, false, dx, dy, kNone, kNone, kZero, true, 0,
                   [](const Pool3dParams& p, auto dy, auto dx) { adaptive_avg_pool3d_dgrad(p, dy, dx); });
        },
        py::arg("dy"), py::arg("dx"));
  m.def("adaptive_max_pool3d_fprop",
        [](const py::array& x, py::array y, std::optional<py::array> indices) {
          max_forward("adaptive_max_pool", true, x, y, indices, kNone, kNone, kZero, kNone,
                      [](const Pool3dParams& p, auto x, auto y, int64_t* i) { adaptive_max_pool3d_fprop(p, x, y, i); });
        },
        py::arg("x"), py::arg("y"), py::arg("indices").none(true));
  m.def("adaptive_max_pool3d_dgrad",
        [](const py::array& dy, const py::array& x, std::optional<py::array> indices, py::array dx) {
          max_backward("adaptive_max_pool_backward", true, dy, x, indices, dx, kNone, kNone, kZero, kNone,
                       [](const Pool3dParams& p, auto dy, auto x, const int64_t* i, auto dx) {
                         adaptive_max_pool3d_dgrad(p, dy, x, i, dx);
                       });
        },
        py::arg("dy"), py::arg("x"), py::arg("indices").none(true), py::arg("dx"));
}

}  // namespace bindings
}  // namespace fastconv
