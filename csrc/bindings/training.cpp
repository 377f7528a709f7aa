// Fused training kernels' bindings (fastconv/training.h): contiguous arrays -> pointers -> CPU
// kernels, GIL released. The Python layer (_training.py) checks arguments first; these checks keep
// anything malformed from reaching a kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "fastconv/training.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

void require_c_contiguous(const py::array& a, const std::string& name, int64_t size) {
  if (!(a.flags() & py::array::c_style)) throw py::value_error(name + ": must be C-contiguous");
  if (a.size() != size)
    throw py::value_error(name + ": expected " + std::to_string(size) + " elements, got " + std::to_string(a.size()));
}

Activation activation_of(int act) {
  if (act < 0 || act > 4)
    throw py::value_error("activation: expected 0 (none), 1 (relu), 2 (sigmoid), 3 (tanh) or 4 (softmax)");
  return static_cast<Activation>(act);
}

// (rows, C) of an array whose last axis is C; a 0-D array is refused.
std::pair<int64_t, int64_t> rows_cols(const py::array& a, const char* name) {
  if (a.ndim() < 1) throw py::value_error(std::string(name) + ": must have at least 1 dimension");
  const int64_t C = a.shape(a.ndim() - 1);
  return {C ? a.size() / C : 0, C};
}

// An optional output: `like`'s dtype, `count` elements, C-contiguous and writable; null when absent.
void* optional_output(const py::array& like, const char* like_name, std::optional<py::array>& out, const char* name,
                      int64_t count) {
  if (!out) return nullptr;
  require_same_dtype(like, *out, like_name, name);
  require_c_contiguous(*out, name, count);
  return writable_data(*out, name);
}

void bias_act_fprop_binding(py::array y, std::optional<py::array> b, int act) {
  const Activation a = activation_of(act);
  const auto [rows, C] = rows_cols(y, "y");
  require_c_contiguous(y, "y", rows * C);
  void* yptr = writable_data(y, "y");
  if (b) {
    require_same_dtype(y, *b, "y", "b");
    require_c_contiguous(*b, "b", C);
  }
  dispatch(dtype_of(y, "y"), [&](auto zero) {
    using T = decltype(zero);
    const T* bptr = b ? static_cast<const T*>(b->data()) : nullptr;
    py::gil_scoped_release release;
    bias_act_fprop<T>(rows, C, static_cast<T*>(yptr), bptr, a);
  });
}

void bias_act_dgrad_binding(const py::array& dy, const py::array& y, int act, py::array dpre,
                            std::optional<py::array> db) {
  const Activation a = activation_of(act);
  const auto [rows, C] = rows_cols(y, "y");
  require_same_dtype(dy, y, "dy", "y");
  require_same_dtype(dy, dpre, "dy", "dpre");
  require_c_contiguous(dy, "dy", rows * C);
  require_c_contiguous(y, "y", rows * C);
  require_c_contiguous(dpre, "dpre", rows * C);
  void* dptr = writable_data(dpre, "dpre");
  void* dbptr = optional_output(dy, "dy", db, "db", C);
  dispatch(dtype_of(dy, "dy"), [&](auto zero) {
    using T = decltype(zero);
    const T* dyptr = static_cast<const T*>(dy.data());
    const T* yptr = static_cast<const T*>(y.data());
    py::gil_scoped_release release;
    bias_act_dgrad<T>(rows, C, dyptr, yptr, a, static_cast<T*>(dptr), static_cast<T*>(dbptr));
  });
}

double sparse_ce_binding(const py::array& x, const py::array& labels, bool from_logits, double eps,
                         std::optional<py::array> dx) {
  const auto [rows, C] = rows_cols(x, "x");
  require_c_contiguous(x, "x", rows * C);
  if (!labels.dtype().is(py::dtype::of<int64_t>())) throw py::type_error("labels: must be int64");
  require_c_contiguous(labels, "labels", rows);
  void* dxptr = optional_output(x, "x", dx, "dx", rows * C);
  double loss = 0;
  dispatch(dtype_of(x, "x"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    const int64_t* lptr = static_cast<const int64_t*>(labels.data());
    py::gil_scoped_release release;
    loss = sparse_softmax_cross_entropy<T>(rows, C, xptr, lptr, from_logits, eps, static_cast<T*>(dxptr));
  });
  return loss;
}

double categorical_ce_binding(const py::array& x, const py::array& target, double eps, std::optional<py::array> dx) {
  const auto [rows, C] = rows_cols(x, "x");
  require_c_contiguous(x, "x", rows * C);
  require_same_dtype(x, target, "x", "target");
  require_c_contiguous(target, "target", rows * C);
  void* dxptr = optional_output(x, "x", dx, "dx", rows * C);
  double loss = 0;
  dispatch(dtype_of(x, "x"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    const T* tptr = static_cast<const T*>(target.data());
    py::gil_scoped_release release;
    loss = categorical_cross_entropy<T>(rows, C, xptr, tptr, eps, static_cast<T*>(dxptr));
  });
  return loss;
}

void dropout_binding(const py::array& x, const py::array& u, double rate, py::array y) {
  const int64_t n = x.size();
  require_c_contiguous(x, "x", n);
  require_c_contiguous(y, "y", n);
  require_c_contiguous(u, "u", n);
  require_same_dtype(x, y, "x", "y");
  if (!u.dtype().is(py::dtype::of<float>())) throw py::type_error("u: must be float32");
  if (!(rate >= 0.0 && rate < 1.0)) throw py::value_error("rate: must be in [0, 1)");
  void* yptr = writable_data(y, "y");
  dispatch(dtype_of(x, "x"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    const float* uptr = static_cast<const float*>(u.data());
    py::gil_scoped_release release;
    dropout_apply<T>(n, xptr, uptr, rate, static_cast<T*>(yptr));
  });
}

// Checks the lists (same length, dtype, sizes, contiguous, writable state) and builds the slots.
template <typename T>
std::vector<OptimizerSlot<T>> optimizer_slots(std::vector<py::array>& params, const std::vector<py::array>& grads,
                                              std::vector<py::array>* m, std::vector<py::array>* v) {
  const size_t count = params.size();
  if (grads.size() != count || (m && m->size() != count) || (v && v->size() != count))
    throw py::value_error("optimizer: params, grads and state lists must have the same length");
  std::vector<OptimizerSlot<T>> slots(count);
  const py::dtype dt = py::dtype::of<T>();
  const auto check = [&](const py::array& a, const std::string& name, int64_t n) {
    if (!a.dtype().is(dt)) throw py::type_error(name + ": all arrays must share the parameters' dtype");
    require_c_contiguous(a, name, n);
  };
  for (size_t i = 0; i < count; ++i) {
    const std::string k = "[" + std::to_string(i) + "]";
    const int64_t n = params[i].size();
    check(params[i], "params" + k, n);
    check(grads[i], "grads" + k, n);
    slots[i].n = n;
    slots[i].param = static_cast<T*>(writable_data(params[i], ("params" + k).c_str()));
    slots[i].grad = static_cast<const T*>(grads[i].data());
    if (m) {
      check((*m)[i], "m" + k, n);
      slots[i].m = static_cast<T*>(writable_data((*m)[i], ("m" + k).c_str()));
    }
    if (v) {
      check((*v)[i], "v" + k, n);
      slots[i].v = static_cast<T*>(writable_data((*v)[i], ("v" + k).c_str()));
    }
  }
  return slots;
}

DType list_dtype(const std::vector<py::array>& params) {
  return params.empty() ? DType::f32 : dtype_of(params[0], "params[0]");
}

void adam_binding(std::vector<py::array> params, const std::vector<py::array>& grads, std::vector<py::array> m,
                  std::vector<py::array> v, int64_t step, double lr, double beta_1, double beta_2, double epsilon) {
  dispatch(list_dtype(params), [&](auto zero) {
    using T = decltype(zero);
    auto slots = optimizer_slots<T>(params, grads, &m, &v);
    py::gil_scoped_release release;
    adam_update<T>(slots.data(), static_cast<int64_t>(slots.size()), step, lr, beta_1, beta_2, epsilon);
  });
}

void sgd_binding(std::vector<py::array> params, const std::vector<py::array>& grads,
                 std::optional<std::vector<py::array>> momentums, double lr, double momentum, bool nesterov) {
  dispatch(list_dtype(params), [&](auto zero) {
    using T = decltype(zero);
    auto slots = optimizer_slots<T>(params, grads, momentums ? &*momentums : nullptr, nullptr);
    py::gil_scoped_release release;
    sgd_update<T>(slots.data(), static_cast<int64_t>(slots.size()), lr, momentum, nesterov);
  });
}

void rmsprop_binding(std::vector<py::array> params, const std::vector<py::array>& grads, std::vector<py::array> v,
                     std::optional<std::vector<py::array>> momentums, double lr, double rho, double momentum,
                     double epsilon) {
  dispatch(list_dtype(params), [&](auto zero) {
    using T = decltype(zero);
    // slots: m = momentum buffer (optional), v = velocity
    auto slots = optimizer_slots<T>(params, grads, momentums ? &*momentums : nullptr, &v);
    py::gil_scoped_release release;
    rmsprop_update<T>(slots.data(), static_cast<int64_t>(slots.size()), lr, rho, momentum, epsilon);
  });
}

}  // namespace

void register_training(py::module_& m) {
  m.def("bias_act_fprop", &bias_act_fprop_binding, py::arg("y"), py::arg("b").none(true), py::arg("activation"));
  m.def("bias_act_dgrad", &bias_act_dgrad_binding, py::arg("dy"), py::arg("y"), py::arg("activation"),
        py::arg("dpre"), py::arg("db").none(true));
  m.def("sparse_softmax_cross_entropy", &sparse_ce_binding, py::arg("x"), py::arg("labels"), py::arg("from_logits"),
        py::arg("epsilon"), py::arg("dx").none(true));
  m.def("categorical_cross_entropy", &categorical_ce_binding, py::arg("x"), py::arg("target"), py::arg("epsilon"),
        py::arg("dx").none(true));
  m.def("dropout", &dropout_binding, py::arg("x"), py::arg("u"), py::arg("rate"), py::arg("y"));
  m.def("rmsprop_update", &rmsprop_binding, py::arg("params"), py::arg("grads"), py::arg("v"),
        py::arg("momentums").none(true), py::arg("learning_rate"), py::arg("rho"), py::arg("momentum"),
        py::arg("epsilon"));
  m.def("adam_update", &adam_binding, py::arg("params"), py::arg("grads"), py::arg("m"), py::arg("v"),
        py::arg("step"), py::arg("learning_rate"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"));
  m.def("sgd_update", &sgd_binding, py::arg("params"), py::arg("grads"), py::arg("momentums").none(true),
        py::arg("learning_rate"), py::arg("momentum"), py::arg("nesterov"));
}

}  // namespace bindings
}  // namespace fastconv
