// Dense-layer, activation, softmax and loss bindings: checked arrays -> pointers and Params -> CPU
// kernels, GIL released. Matrices for linear may have any element strides; the rest must be
// C-contiguous (the Python layer copies when they are not).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/arrays.h"
#include "fastconv/nn.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

template <typename T>
MatrixView<T> matrix(const py::array& a, const char* name) {
  int64_t s[2];
  element_strides<2>(a, name, s);
  return MatrixView<T>{static_cast<const T*>(a.data()), s[0], s[1]};
}

// Row stride of a writable matrix with unit column stride.
int64_t output_rows(py::array& a, const char* name, int64_t rows, int64_t cols) {
  int64_t s[2];
  element_strides<2>(a, name, s);
  if (a.shape(0) != rows || a.shape(1) != cols)
    throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(rows) + ", " +
                          std::to_string(cols) + ")");
  writable_data(a, name);
  if (rows == 0 || cols == 0) return cols;
  if (cols > 1 && s[1] != 1) throw py::value_error(std::string(name) + ": columns must be contiguous");
  if (rows > 1 && s[0] < cols) throw py::value_error(std::string(name) + ": rows overlap");
  return s[0];
}

void require_contiguous(const py::array& a, const char* name, int64_t size) {
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + ": must be C-contiguous");
  if (a.size() != size)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(size) + " elements, got " +
                          std::to_string(a.size()));
}

template <typename T>
const T* input_data(const std::optional<py::array>& a, const py::array& like, const char* name, int64_t size) {
  if (!a) return nullptr;
  require_same_dtype(*a, like, name, "input");
  require_contiguous(*a, name, size);
  return static_cast<const T*>(a->data());
}

template <typename T>
T* output_data(std::optional<py::array>& a, const py::array& like, const char* name, int64_t size) {
  if (!a) return nullptr;
  require_same_dtype(*a, like, name, "input");
  require_contiguous(*a, name, size);
  return static_cast<T*>(writable_data(*a, name));
}

void linear_fprop_binding(const py::array& x, const py::array& w, std::optional<py::array> b, py::array y) {
  require_same_dtype(x, w, "input", "weight");
  require_same_dtype(x, y, "input", "output");
  LinearParams p;
  if (x.ndim() != 2 || w.ndim() != 2) throw py::value_error("linear: input and weight must be 2-D here");
  p.N = x.shape(0), p.in = x.shape(1), p.out = w.shape(0);
  if (w.shape(1) != p.in) throw py::value_error("linear: weight columns must match input features");
  const int64_t ldy = output_rows(y, "output", p.N, p.out);
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    const T* bptr = input_data<T>(b, x, "bias", p.out);
    auto xv = matrix<T>(x, "input");
    auto wv = matrix<T>(w, "weight");
    T* yptr = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release release;
    linear_fprop<T>(p, xv, wv, bptr, yptr, ldy);
  });
}

void linear_dgrad_binding(const py::array& dy, const py::array& w, py::array dx) {
  require_same_dtype(dy, w, "grad_output", "weight");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  LinearParams p;
  if (dy.ndim() != 2 || w.ndim() != 2) throw py::value_error("linear_backward: grad_output and weight must be 2-D");
  p.N = dy.shape(0), p.out = w.shape(0), p.in = w.shape(1);
  if (dy.shape(1) != p.out) throw py::value_error("linear_backward: grad_output columns must match weight rows");
  const int64_t ldx = output_rows(dx, "grad_input", p.N, p.in);
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    auto dyv = matrix<T>(dy, "grad_output");
    auto wv = matrix<T>(w, "weight");
    T* dxptr = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release release;
    linear_dgrad<T>(p, dyv, wv, dxptr, ldx);
  });
}

void linear_wgrad_binding(const py::array& dy, const py::array& x, py::array dw) {
  require_same_dtype(dy, x, "grad_output", "input");
  require_same_dtype(dy, dw, "grad_output", "grad_weight");
  LinearParams p;
  if (dy.ndim() != 2 || x.ndim() != 2) throw py::value_error("linear_backward: grad_output and input must be 2-D");
  p.N = dy.shape(0), p.out = dy.shape(1), p.in = x.shape(1);
  if (x.shape(0) != p.N) throw py::value_error("linear_backward: grad_output and input rows must match");
  const int64_t ldw = output_rows(dw, "grad_weight", p.out, p.in);
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    auto dyv = matrix<T>(dy, "grad_output");
    auto xv = matrix<T>(x, "input");
    T* dwptr = static_cast<T*>(dw.mutable_data());
    py::gil_scoped_release release;
    linear_wgrad<T>(p, dyv, xv, dwptr, ldw);
  });
}

void column_sum_binding(const py::array& dy, py::array db) {
  require_same_dtype(dy, db, "grad_output", "grad_bias");
  if (dy.ndim() != 2) throw py::value_error("column_sum: grad_output must be 2-D");
  const int64_t rows = dy.shape(0), cols = dy.shape(1);
  require_contiguous(db, "grad_bias", cols);
  void* dbptr = writable_data(db, "grad_bias");
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    auto dyv = matrix<T>(dy, "grad_output");
    py::gil_scoped_release release;
    column_sum<T>(rows, cols, dyv, static_cast<T*>(dbptr));
  });
}

Activation elementwise_activation(int act) {
  if (act < 0 || act > 3) throw py::value_error("activation: expected 0 (none), 1 (relu), 2 (sigmoid) or 3 (tanh)");
  return static_cast<Activation>(act);
}

void activation_fprop_binding(int act, const py::array& x, py::array y) {
  const Activation a = elementwise_activation(act);
  require_same_dtype(x, y, "input", "output");
  const int64_t n = x.size();
  require_contiguous(x, "input", n);
  require_contiguous(y, "output", n);
  void* yptr = writable_data(y, "output");
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    py::gil_scoped_release release;
    activation_fprop<T>(a, n, xptr, static_cast<T*>(yptr));
  });
}

void activation_dgrad_binding(int act, const py::array& dy, const py::array& y, py::array dx) {
  const Activation a = elementwise_activation(act);
  require_same_dtype(dy, y, "grad_output", "output");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  const int64_t n = dy.size();
  require_contiguous(dy, "grad_output", n);
  require_contiguous(y, "output", n);
  require_contiguous(dx, "grad_input", n);
  void* dxptr = writable_data(dx, "grad_input");
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    const T* dyptr = static_cast<const T*>(dy.data());
    const T* yptr = static_cast<const T*>(y.data());
    py::gil_scoped_release release;
    activation_dgrad<T>(a, n, dyptr, yptr, static_cast<T*>(dxptr));
  });
}

SoftmaxParams softmax_params(int64_t outer, int64_t D, int64_t inner, bool log) {
  if (outer < 0 || D < 0 || inner < 0) throw py::value_error("softmax: negative extent");
  return SoftmaxParams{outer, D, inner, log};
}

void softmax_fprop_binding(const py::array& x, py::array y, int64_t outer, int64_t D, int64_t inner, bool log) {
  const SoftmaxParams p = softmax_params(outer, D, inner, log);
  require_same_dtype(x, y, "input", "output");
  require_contiguous(x, "input", outer * D * inner);
  require_contiguous(y, "output", outer * D * inner);
  void* yptr = writable_data(y, "output");
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    py::gil_scoped_release release;
    softmax_fprop<T>(p, xptr, static_cast<T*>(yptr));
  });
}

void softmax_dgrad_binding(const py::array& dy, const py::array& y, py::array dx, int64_t outer, int64_t D,
                           int64_t inner, bool log) {
  const SoftmaxParams p = softmax_params(outer, D, inner, log);
  require_same_dtype(dy, y, "grad_output", "output");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  const int64_t n = outer * D * inner;
  require_contiguous(dy, "grad_output", n);
  require_contiguous(y, "output", n);
  require_contiguous(dx, "grad_input", n);
  void* dxptr = writable_data(dx, "grad_input");
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    const T* dyptr = static_cast<const T*>(dy.data());
    const T* yptr = static_cast<const T*>(y.data());
    py::gil_scoped_release release;
    softmax_dgrad<T>(p, dyptr, yptr, static_cast<T*>(dxptr));
  });
}

Reduction reduction_of(int r) {
  if (r < 0 || r > 2) throw py::value_error("reduction: expected 0 (none), 1 (mean) or 2 (sum)");
  return static_cast<Reduction>(r);
}

CrossEntropyParams ce_params(int64_t N, int64_t C, int64_t inner, const std::optional<py::array>& class_target,
                             const std::optional<py::array>& prob_target, int64_t ignore_index,
                             double label_smoothing, int reduction) {
  if (N < 0 || C < 1 || inner < 0) throw py::value_error("cross_entropy: bad extents");
  if (class_target.has_value() == prob_target.has_value())
    throw py::value_error("cross_entropy: give exactly one of class_target and prob_target");
  CrossEntropyParams p;
  p.N = N, p.C = C, p.inner = inner;
  p.prob_target = prob_target.has_value();
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  p.reduction = reduction_of(reduction);
  if (class_target) {
    if (!class_target->dtype().is(py::dtype::of<int64_t>())) throw py::type_error("cross_entropy: target must be int64");
    require_contiguous(*class_target, "target", N * inner);
  }
  return p;
}

void cross_entropy_fprop_binding(const py::array& x, std::optional<py::array> class_target,
                                 std::optional<py::array> prob_target, std::optional<py::array> weight,
                                 py::array lsm, py::array loss, int64_t N, int64_t C, int64_t inner,
                                 int64_t ignore_index, double label_smoothing, int reduction) {
  const CrossEntropyParams p =
      ce_params(N, C, inner, class_target, prob_target, ignore_index, label_smoothing, reduction);
  require_same_dtype(x, lsm, "input", "log_softmax");
  require_same_dtype(x, loss, "input", "loss");
  require_contiguous(x, "input", N * C * inner);
  require_contiguous(lsm, "log_softmax", N * C * inner);
  require_contiguous(loss, "loss", p.reduction == Reduction::none ? N * inner : 1);
  void* lsmptr = writable_data(lsm, "log_softmax");
  void* lossptr = writable_data(loss, "loss");
  const int64_t* tptr = class_target ? static_cast<const int64_t*>(class_target->data()) : nullptr;
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    const T* ptptr = input_data<T>(prob_target, x, "target", N * C * inner);
    const T* wptr = input_data<T>(weight, x, "weight", C);
    const T* xptr = static_cast<const T*>(x.data());
    py::gil_scoped_release release;
    cross_entropy_fprop<T>(p, xptr, tptr, ptptr, wptr, static_cast<T*>(lsmptr), static_cast<T*>(lossptr));
  });
}

void cross_entropy_dgrad_binding(const py::array& dy, const py::array& lsm, std::optional<py::array> class_target,
                                 std::optional<py::array> prob_target, std::optional<py::array> weight, py::array dx,
                                 std::optional<py::array> dtarget, int64_t N, int64_t C, int64_t inner,
                                 int64_t ignore_index, double label_smoothing, int reduction) {
  const CrossEntropyParams p =
      ce_params(N, C, inner, class_target, prob_target, ignore_index, label_smoothing, reduction);
  require_same_dtype(dy, lsm, "grad_output", "log_softmax");
  require_same_dtype(dy, dx, "grad_output", "grad_input");
  require_contiguous(dy, "grad_output", p.reduction == Reduction::none ? N * inner : 1);
  require_contiguous(lsm, "log_softmax", N * C * inner);
  require_contiguous(dx, "grad_input", N * C * inner);
  if (dtarget && !prob_target) throw py::value_error("cross_entropy_backward: grad_target needs probability targets");
  void* dxptr = writable_data(dx, "grad_input");
  const int64_t* tptr = class_target ? static_cast<const int64_t*>(class_target->data()) : nullptr;
  dispatch(dtype_of(dy, "grad_output"), [&](auto zero) {
    using T = decltype(zero);
    const T* ptptr = input_data<T>(prob_target, dy, "target", N * C * inner);
    const T* wptr = input_data<T>(weight, dy, "weight", C);
    T* dtptr = output_data<T>(dtarget, dy, "grad_target", N * C * inner);
    const T* dyptr = static_cast<const T*>(dy.data());
    const T* lptr = static_cast<const T*>(lsm.data());
    py::gil_scoped_release release;
    cross_entropy_dgrad<T>(p, dyptr, lptr, tptr, ptptr, wptr, static_cast<T*>(dxptr), dtptr);
  });
}

void mse_loss_fprop_binding(const py::array& x, const py::array& target, py::array loss, int reduction) {
  const Reduction r = reduction_of(reduction);
  require_same_dtype(x, target, "input", "target");
  require_same_dtype(x, loss, "input", "loss");
  const int64_t n = x.size();
  require_contiguous(x, "input", n);
  require_contiguous(target, "target", n);
  require_contiguous(loss, "loss", r == Reduction::none ? n : 1);
  void* lptr = writable_data(loss, "loss");
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    const T* xptr = static_cast<const T*>(x.data());
    const T* tptr = static_cast<const T*>(target.data());
    py::gil_scoped_release release;
    mse_loss_fprop<T>(r, n, xptr, tptr, static_cast<T*>(lptr));
  });
}

void mse_loss_dgrad_binding(const py::array& dy, const py::array& x, const py::array& target,
                            std::optional<py::array> dx, std::optional<py::array> dtarget, int reduction) {
  const Reduction r = reduction_of(reduction);
  require_same_dtype(x, target, "input", "target");
  require_same_dtype(x, dy, "input", "grad_output");
  const int64_t n = x.size();
  require_contiguous(x, "input", n);
  require_contiguous(target, "target", n);
  require_contiguous(dy, "grad_output", r == Reduction::none ? n : 1);
  dispatch(dtype_of(x, "input"), [&](auto zero) {
    using T = decltype(zero);
    T* dxptr = output_data<T>(dx, x, "grad_input", n);
    T* dtptr = output_data<T>(dtarget, x, "grad_target", n);
    const T* xptr = static_cast<const T*>(x.data());
    const T* tptr = static_cast<const T*>(target.data());
    const T* dyptr = static_cast<const T*>(dy.data());
    py::gil_scoped_release release;
    mse_loss_dgrad<T>(r, n, dyptr, xptr, tptr, dxptr, dtptr);
  });
}

}  // namespace

void register_nn(py::module_& m) {
  m.def("linear_fprop", &linear_fprop_binding, py::arg("x"), py::arg("w"), py::arg("b").none(true), py::arg("y"));
  m.def("linear_dgrad", &linear_dgrad_binding, py::arg("dy"), py::arg("w"), py::arg("dx"));
  m.def("linear_wgrad", &linear_wgrad_binding, py::arg("dy"), py::arg("x"), py::arg("dw"));
  m.def("column_sum", &column_sum_binding, py::arg("dy"), py::arg("db"));
  m.def("activation_fprop", &activation_fprop_binding, py::arg("activation"), py::arg("x"), py::arg("y"));
  m.def("activation_dgrad", &activation_dgrad_binding, py::arg("activation"), py::arg("dy"), py::arg("y"),
        py::arg("dx"));
  m.def("softmax_fprop", &softmax_fprop_binding, py::arg("x"), py::arg("y"), py::arg("outer"), py::arg("D"),
        py::arg("inner"), py::arg("log"));
  m.def("softmax_dgrad", &softmax_dgrad_binding, py::arg("dy"), py::arg("y"), py::arg("dx"), py::arg("outer"),
        py::arg("D"), py::arg("inner"), py::arg("log"));
  m.def("cross_entropy_fprop", &cross_entropy_fprop_binding, py::arg("x"), py::arg("class_target").none(true),
        py::arg("prob_target").none(true), py::arg("weight").none(true), py::arg("lsm"), py::arg("loss"),
        py::arg("N"), py::arg("C"), py::arg("inner"), py::arg("ignore_index"), py::arg("label_smoothing"),
        py::arg("reduction"));
  m.def("cross_entropy_dgrad", &cross_entropy_dgrad_binding, py::arg("dy"), py::arg("lsm"),
        py::arg("class_target").none(true), py::arg("prob_target").none(true), py::arg("weight").none(true),
        py::arg("dx"), py::arg("dtarget").none(true), py::arg("N"), py::arg("C"), py::arg("inner"),
        py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("reduction"));
  m.def("mse_loss_fprop", &mse_loss_fprop_binding, py::arg("x"), py::arg("target"), py::arg("loss"),
        py::arg("reduction"));
  m.def("mse_loss_dgrad", &mse_loss_dgrad_binding, py::arg("dy"), py::arg("x"), py::arg("target"),
        py::arg("dx").none(true), py::arg("dtarget").none(true), py::arg("reduction"));
}

}  // namespace bindings
}  // namespace fastconv
