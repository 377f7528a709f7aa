// CUDA pooling bindings: device arrays -> checked Params (device_calls.h) -> kernels on the given
// stream and device, GIL released.
//   x, dx: (N, C, H, W)   y, dy, indices: (N, C, P, Q)   float32; indices int64 (flat h * W + w);
//   workspace int64 (max_pool2d_backward without indices)
#ifdef FASTCONV_WITH_CUDA

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>

#include "bindings/cuda_launch.h"
#include "fastconv/cuda_pool.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

void max_fprop(const DevArray4& x, const DevArray4& y, const std::optional<DevArray4>& indices, Pair kernel,
               Pair stride, Pair padding, Pair dilation, int device, uintptr_t stream) {
  const MaxPoolFprop c = max_pool_fprop_call(x, y, indices, kernel, stride, padding, dilation);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::max_pool2d_fprop(c.p, c.x, c.y, c.indices, as_stream(stream));
}

void max_dgrad(const DevArray4& dy, const DevArray4& x, const std::optional<DevArray4>& indices, const DevArray4& dx,
               const std::optional<DevArray1>& workspace, Pair kernel, Pair stride, Pair padding, Pair dilation,
               int device, uintptr_t stream) {
  const MaxPoolDgrad c = max_pool_dgrad_call(dy, x, indices, dx, workspace, kernel, stride, padding, dilation);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::max_pool2d_dgrad(c.p, c.dy, c.x, c.indices, c.dx, c.workspace, as_stream(stream));
}

void avg_fprop(const DevArray4& x, const DevArray4& y, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
               int64_t divisor_override, int device, uintptr_t stream) {
  const AvgPoolFprop c = avg_pool_fprop_call(x, y, kernel, stride, padding, count_include_pad, divisor_override);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::avg_pool2d_fprop(c.p, c.x, c.y, as_stream(stream));
}

void avg_dgrad(const DevArray4& dy, const DevArray4& dx, Pair kernel, Pair stride, Pair padding,
               bool count_include_pad, int64_t divisor_override, int device, uintptr_t stream) {
  const AvgPoolDgrad c = avg_pool_dgrad_call(dy, dx, kernel, stride, padding, count_include_pad, divisor_override);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::avg_pool2d_dgrad(c.p, c.dy, c.dx, as_stream(stream));
}

}  // namespace

void register_cuda_pool2d(py::module_& m) {
  m.def("cuda_max_pool2d_fprop", &max_fprop, py::arg("x"), py::arg("y"), py::arg("indices").none(true),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("device"),
        py::arg("stream"));
  m.def("cuda_max_pool2d_dgrad_workspace", &max_pool_dgrad_workspace, py::arg("dy"), py::arg("x"),
        py::arg("has_indices"), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"));
  m.def("cuda_max_pool2d_dgrad", &max_dgrad, py::arg("dy"), py::arg("x"), py::arg("indices").none(true),
        py::arg("dx"), py::arg("workspace").none(true), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("device"), py::arg("stream"));
  m.def("cuda_avg_pool2d_fprop", &avg_fprop, py::arg("x"), py::arg("y"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"), py::arg("device"),
        py::arg("stream"));
  m.def("cuda_avg_pool2d_dgrad", &avg_dgrad, py::arg("dy"), py::arg("dx"), py::arg("kernel"), py::arg("stride"),
        py::arg("padding"), py::arg("count_include_pad"), py::arg("divisor_override"), py::arg("device"),
        py::arg("stream"));
}

}  // namespace bindings
}  // namespace fastconv

#endif  // FASTCONV_WITH_CUDA
