// Translation from NumPy arrays to raw pointers and element strides. The Python layer has already
// checked dtypes, shapes and alignment and presents every array in its logical axis order; these
// checks are the last line of defence so that nothing reaches a kernel that could read out of bounds.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastconv {
namespace bindings {

namespace py = pybind11;

enum class DType { f32, f64 };

inline DType dtype_of(const py::array& a, const char* name) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::f64;
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " + std::string(py::str(a.dtype())));
}

// Calls fn(float{}) or fn(double{}) for the array's dtype, so one generic lambda serves both.
template <typename Fn>
void dispatch(DType dt, Fn&& fn) {
  if (dt == DType::f32) fn(float{});
  else fn(double{});
}

// Element strides of a 4-D (or `ndim`-D) array; throws when a stride is not a whole number of elements.
template <int NDIM>
inline void element_strides(const py::array& a, const char* name, int64_t out[NDIM]) {
  if (a.ndim() != NDIM)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(NDIM) + " dimensions, got " +
                          std::to_string(a.ndim()));
  const auto item = static_cast<int64_t>(a.itemsize());
  for (int i = 0; i < NDIM; ++i) {
    const auto s = static_cast<int64_t>(a.strides(i));
    if (s % item != 0) throw py::value_error(std::string(name) + ": strides must be whole elements");
    out[i] = s / item;
  }
}

inline void require_same_dtype(const py::array& a, const py::array& b, const char* name_a, const char* name_b) {
  if (!a.dtype().is(b.dtype()))
    throw py::type_error(std::string(name_a) + " and " + name_b + " must have the same dtype");
}

inline void* writable_data(py::array& a, const char* name) {
  if (!a.writeable()) throw py::value_error(std::string(name) + ": output array is read-only");
  return a.mutable_data();
}

}  // namespace bindings
}  // namespace fastconv
