// bias_add binding: y (N, K, ...) with 1 to 3 spatial axes, b (K,); y += b per channel, in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/arrays.h"
#include "fastconv/bias.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

void add(py::array y, const py::array& b) {
  require_same_dtype(y, b, "output", "bias");
  if (y.ndim() < 3 || y.ndim() > 5) throw py::value_error("bias_add: output must have 1 to 3 spatial axes");
  if (b.ndim() != 1 || b.shape(0) != y.shape(1)) throw py::value_error("bias_add: bias must have shape (channels,)");
  BiasAddParams p;
  const auto item = static_cast<int64_t>(y.itemsize());
  p.N = y.shape(0), p.K = y.shape(1);
  int64_t* extents[3] = {&p.D, &p.H, &p.W};
  const int spatial = static_cast<int>(y.ndim()) - 2;
  for (int i = 0; i < 2; ++i) p.y_strides[i] = y.strides(i) / item;
  // Missing leading spatial axes have extent 1 and stride 0.
  for (int i = 0; i < spatial; ++i) {
    const int axis = 3 - spatial + i;
    *extents[axis] = y.shape(2 + i);
    p.y_strides[2 + axis] = y.strides(2 + i) / item;
  }
  for (int i = 0; i < y.ndim(); ++i)
    if (y.strides(i) % item) throw py::value_error("bias_add: strides must be whole elements");
  if (b.strides(0) % item) throw py::value_error("bias_add: strides must be whole elements");
  p.b_stride = b.strides(0) / item;
  void* yptr = writable_data(y, "output");
  const void* bptr = b.data();
  if (dtype_of(y, "output") == DType::f32) {
    py::gil_scoped_release release;
    bias_add<float>(p, static_cast<const float*>(bptr), static_cast<float*>(yptr));
  } else {
    py::gil_scoped_release release;
    bias_add<double>(p, static_cast<const double*>(bptr), static_cast<double*>(yptr));
  }
}

}  // namespace

void register_bias_add(py::module_& m) { m.def("bias_add", &add, py::arg("y"), py::arg("b")); }

}  // namespace bindings
}  // namespace fastconv
