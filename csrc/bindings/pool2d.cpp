// pool2d bindings: arrays in logical axis order -> Pool2dParams -> CPU kernels, GIL released.
//   x, dx: (N, C, H, W)   y, dy, indices: (N, C, P, Q)   indices: int64, flat h * W + w
// ceil_mode is implied by the output extents P, Q (check_pool2d_params accepts either mode's).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "bindings/arrays.h"
#include "fastconv/pool.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using Pair = std::array<int64_t, 2>;

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// x_name / y_name describe the input-sized and output-sized arrays (x or dx, y or dy).
Pool2dParams make_params(const char* op, const py::array& x, const char* x_name, const py::array& y,
                         const char* y_name, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  Pool2dParams p;
  element_strides<4>(x, x_name, p.x_strides);
  element_strides<4>(y, y_name, p.y_strides);
  p.N = x.shape(0), p.C = x.shape(1), p.H = x.shape(2), p.W = x.shape(3);
  p.P = y.shape(2), p.Q = y.shape(3);
  if (y.shape(0) != p.N || y.shape(1) != p.C)
    throw py::value_error(std::string(op) + ": " + y_name + " of shape " + shape_str(y) + " does not match " + x_name +
                          " of shape " + shape_str(x));
  p.kernel_h = kernel[0], p.kernel_w = kernel[1];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  return p;
}

void require_indices(const char* op, const py::array& indices, const py::array& y, int64_t out[4]) {
  if (!indices.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": indices must be int64, got " + std::string(py::str(indices.dtype())));
  element_strides<4>(indices, "indices", out);
  for (int i = 0; i < 4; ++i)
    if (indices.shape(i) != y.shape(i))
      throw py::value_error(std::string(op) + ": indices of shape " + shape_str(indices) + " must match the output " +
                            shape_str(y));
}

void require_same_shape(const char* op, const py::array& a, const char* name_a, const py::array& b,
                        const char* name_b) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    throw py::value_error(std::string(op) + ": " + name_a + " of shape " + shape_str(a) + " must have the shape of " +
                          name_b + " " + shape_str(b));
}

void max_fprop(const py::array& x, py::array y, std::optional<py::array> indices, Pair kernel, Pair stride,
               Pair padding, Pair dilation) {
  const char* op = "max_pool2d";
  require_same_dtype(x, y, "input", "output");
  Pool2dParams p = make_params(op, x, "input", y, "output", kernel, stride, padding, dilation);
  int64_t* iptr = nullptr;
  if (indices) {
    require_indices(op, *indices, y, p.i_strides);
    iptr = static_cast<int64_t*>(writable_data(*indices, "indices"));
  }
  check_pool2d_params(p);
  void* yptr = writable_data(y, "output");
  const void* xptr = x.data();
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    max_pool2d_fprop<T>(p, static_cast<const T*>(xptr), static_cast<T*>(yptr), iptr);
  });
}

void max_dgrad(const py::array& dy, const py::array& x, std::optional<py::array> indices, py::array dx, Pair kernel,
               Pair stride, Pair padding, Pair dilation) {
  const char* op = "max_pool2d_backward";
  require_same_dtype(dy, x, "grad_output", "input");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  Pool2dParams p = make_params(op, x, "input", dy, "grad_output", kernel, stride, padding, dilation);
  require_same_shape(op, dx, "grad_input", x, "input");
  element_strides<4>(dx, "grad_input", p.dx_strides);
  const int64_t* iptr = nullptr;
  if (indices) {
    require_indices(op, *indices, dy, p.i_strides);
    iptr = static_cast<const int64_t*>(indices->data());
  }
  check_pool2d_params(p);
  void* dxptr = writable_data(dx, "grad_input");
  const void* dyptr = dy.data();
  const void* xptr = x.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    max_pool2d_dgrad<T>(p, static_cast<const T*>(dyptr), static_cast<const T*>(xptr), iptr, static_cast<T*>(dxptr));
  });
}

void avg_fprop(const py::array& x, py::array y, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
               int64_t divisor_override) {
  require_same_dtype(x, y, "input", "output");
  Pool2dParams p = make_params("avg_pool2d", x, "input", y, "output", kernel, stride, padding, Pair{1, 1});
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  check_pool2d_params(p);
  void* yptr = writable_data(y, "output");
  const void* xptr = x.data();
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    avg_pool2d_fprop<T>(p, static_cast<const T*>(xptr), static_cast<T*>(yptr));
  });
}

void avg_dgrad(const py::array& dy, py::array dx, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
               int64_t divisor_override) {
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  Pool2dParams p =
      make_params("avg_pool2d_backward", dx, "grad_input", dy, "grad_output", kernel, stride, padding, Pair{1, 1});
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  check_pool2d_params(p);
  void* dxptr = writable_data(dx, "grad_input");
  const void* dyptr = dy.data();
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    py::gil_scoped_release release;
    avg_pool2d_dgrad<T>(p, static_cast<const T*>(dyptr), static_cast<T*>(dxptr));
  });
}

}  // namespace

void register_pool2d(py::module_& m) {
  m.def("max_pool2d_fprop", &max_fprop, py::arg("x"), py::arg("y"), py::arg("indices").none(true),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("max_pool2d_dgrad", &max_dgrad, py::arg("dy"), py::arg("x"), py::arg("indices").none(true), py::arg("dx"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("avg_pool2d_fprop", &avg_fprop, py::arg("x"), py::arg("y"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("avg_pool2d_dgrad", &avg_dgrad, py::arg("dy"), py::arg("dx"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"));
}

}  // namespace bindings
}  // namespace fastconv
