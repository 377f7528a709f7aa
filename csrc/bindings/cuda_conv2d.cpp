// CUDA conv2d bindings: device arrays -> checked Params (device_calls.h) -> kernels on the given
// stream and device, GIL released.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)   float32
// A new kernel family adds its *_call in device_calls.h, its functions here, and its branch in
// python/fastconv/_conv2d_gpu.py (gpu_algorithm and the passes).
#ifdef FASTCONV_WITH_CUDA

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "bindings/cuda_launch.h"
#include "fastconv/cuda_conv.h"
#include "fastconv/cuda_conv_implicit_gemm.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

void fprop_depthwise(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b, const DevArray4& y,
                     Pair stride, Pair padding, Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const DepthwiseFprop c = depthwise_fprop_call(x, w, b, y, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_fprop_depthwise(c.p, c.x, c.w, c.b, c.y, as_stream(stream));
}

void dgrad_depthwise(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride, Pair padding,
                     Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const DepthwiseDgrad c = depthwise_dgrad_call(dy, w, dx, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_dgrad_depthwise(c.p, c.dy, c.w, c.dx, as_stream(stream));
}

size_t wgrad_depthwise_workspace(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, Pair stride,
                                 Pair padding, Pair dilation, int64_t groups) {
  return cuda::conv2d_wgrad_depthwise_workspace(
      depthwise_params("conv2d_backward", x, dw, dy, stride, padding, dilation, groups));
}

void wgrad_depthwise(const DevArray4& dy, const DevArray4& x, const DevArray4& w_like, bool want_dw,
                     const std::optional<DevArray1>& db, const DevArray1& workspace, Pair stride, Pair padding,
                     Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const DepthwiseWgrad c =
      depthwise_wgrad_call(dy, x, w_like, want_dw, db, workspace, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_wgrad_depthwise(c.p, c.dy, c.x, c.dw, c.db, c.workspace, as_stream(stream));
}

void fprop_implicit_gemm(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b,
                         const DevArray4& y, Pair stride, Pair padding, Pair dilation, int64_t groups, int device,
                         uintptr_t stream) {
  const ImplicitGemmFprop c = implicit_gemm_fprop_call(x, w, b, y, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_fprop_implicit_gemm(c.p, c.x, c.w, c.b, c.y, nullptr, as_stream(stream));
}

void dgrad_implicit_gemm(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride, Pair padding,
                         Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const ImplicitGemmDgrad c = implicit_gemm_dgrad_call(dy, w, dx, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_dgrad_implicit_gemm(c.p, c.dy, c.w, c.dx, nullptr, as_stream(stream));
}

int64_t wgrad_implicit_gemm_workspace(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, Pair stride,
                                      Pair padding, Pair dilation, int64_t groups) {
  return implicit_gemm_wgrad_workspace_floats(
      implicit_gemm_params("conv2d_backward", x, dw, dy, stride, padding, dilation, groups));
}

void wgrad_implicit_gemm(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, const DevArray1& workspace,
                         Pair stride, Pair padding, Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const ImplicitGemmWgrad c = implicit_gemm_wgrad_call(dy, x, dw, workspace, stride, padding, dilation, groups);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_wgrad_implicit_gemm(c.p, c.dy, c.x, c.dw, c.workspace, as_stream(stream));
}

void bgrad(const DevArray4& dy, const DevArray1& db, int device, uintptr_t stream) {
  const Bgrad c = bgrad_call(dy, db);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_bgrad(c.p, c.dy, c.db, nullptr, as_stream(stream));
}

}  // namespace

void register_cuda_conv2d(py::module_& m) {
  m.def("cuda_conv2d_fprop_implicit_gemm", &fprop_implicit_gemm, py::arg("x"), py::arg("w"), py::arg("b").none(true),
        py::arg("y"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("device"), py::arg("stream"));
  m.def("cuda_conv2d_dgrad_implicit_gemm", &dgrad_implicit_gemm, py::arg("dy"), py::arg("w"), py::arg("dx"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("device"),
        py::arg("stream"));
  m.def("cuda_conv2d_wgrad_implicit_gemm_workspace", &wgrad_implicit_gemm_workspace, py::arg("dy"), py::arg("x"),
        py::arg("dw"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("cuda_conv2d_wgrad_implicit_gemm", &wgrad_implicit_gemm, py::arg("dy"), py::arg("x"), py::arg("dw"),
        py::arg("workspace"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("device"), py::arg("stream"));
  m.def("cuda_conv2d_bgrad", &bgrad, py::arg("dy"), py::arg("db"), py::arg("device"), py::arg("stream"));
  m.def("cuda_conv2d_fprop_depthwise", &fprop_depthwise, py::arg("x"), py::arg("w"), py::arg("b").none(true),
        py::arg("y"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("device"), py::arg("stream"));
  m.def("cuda_conv2d_dgrad_depthwise", &dgrad_depthwise, py::arg("dy"), py::arg("w"), py::arg("dx"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("device"),
        py::arg("stream"));
  m.def("cuda_conv2d_wgrad_depthwise_workspace", &wgrad_depthwise_workspace, py::arg("dy"), py::arg("x"),
        py::arg("dw"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("cuda_conv2d_wgrad_depthwise", &wgrad_depthwise, py::arg("dy"), py::arg("x"), py::arg("dw"),
        py::arg("want_dw"), py::arg("db").none(true), py::arg("workspace"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("device"), py::arg("stream"));
}

}  // namespace bindings
}  // namespace fastconv

#endif  // FASTCONV_WITH_CUDA
