// CUDA conv2d bindings: device arrays (pointer, logical shape, element strides) -> Conv2dParams ->
// kernels on the given stream and device, GIL released.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)   float32
// A new algorithm adds its kernel call next to the depthwise ones below; make_params and the
// Python side (_conv2d_gpu.py) stay as they are.
#ifdef FASTCONV_WITH_CUDA

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "bindings/cuda_launch.h"
#include "fastconv/conv.h"
#include "fastconv/cuda_conv.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using Pair = std::array<int64_t, 2>;

// x is (N, C, H, W) shaped like the input (x or dx), y like the output (y or dy), w like the weight.
Conv2dParams make_params(const char* op, const DevArray4& x, const DevArray4& w, const DevArray4& y,
                         Pair stride, Pair padding, Pair dilation, int64_t groups) {
  Conv2dParams p;
  const auto& xs = std::get<1>(x);
  const auto& ws = std::get<1>(w);
  const auto& ys = std::get<1>(y);
  p.N = xs[0], p.C = xs[1], p.H = xs[2], p.W = xs[3];
  p.K = ws[0], p.R = ws[2], p.S = ws[3];
  p.P = ys[2], p.Q = ys[3];
  p.groups = groups;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  require_shape(op, y, "output", {p.N, p.K, p.P, p.Q});
  if (groups < 1 || ws[1] * groups != p.C)
    throw py::value_error(std::string(op) + ": weight channels * groups != input channels");
  copy_strides(x, p.x_strides);
  copy_strides(w, p.w_strides);
  copy_strides(y, p.y_strides);
  check_conv2d_params(p);
  return p;
}

void require_depthwise(const char* op, const Conv2dParams& p) {
  if (!cuda::conv2d_depthwise_supported(p))
    throw py::value_error(std::string(op) + ": the CUDA backend runs depthwise convolutions (groups == C, K a "
                          "multiple of C) in this version, got C=" + std::to_string(p.C) + ", K=" +
                          std::to_string(p.K) + ", groups=" + std::to_string(p.groups));
}

const float* bias_ptr(const std::optional<DevArray1>& b, const Conv2dParams& p, int64_t& stride) {
  if (!b) return nullptr;
  if (std::get<1>(*b) != p.K) throw py::value_error("conv2d: bias must have shape (out_channels,)");
  stride = std::get<2>(*b);
  return reinterpret_cast<const float*>(std::get<0>(*b));
}

void fprop_depthwise(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b, const DevArray4& y,
                     Pair stride, Pair padding, Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const char* op = "conv2d";
  Conv2dParams p = make_params(op, x, w, y, stride, padding, dilation, groups);
  require_depthwise(op, p);
  const float* bptr = bias_ptr(b, p, p.b_stride);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_fprop_depthwise(p, dev_ptr<const float>(x), dev_ptr<const float>(w), bptr, dev_ptr<float>(y),
                               as_stream(stream));
}

void dgrad_depthwise(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride, Pair padding,
                     Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const char* op = "conv2d_backward";
  Conv2dParams p = make_params(op, dx, w, dy, stride, padding, dilation, groups);
  require_depthwise(op, p);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_dgrad_depthwise(p, dev_ptr<const float>(dy), dev_ptr<const float>(w), dev_ptr<float>(dx),
                               as_stream(stream));
}

size_t wgrad_depthwise_workspace(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, Pair stride,
                                 Pair padding, Pair dilation, int64_t groups) {
  const char* op = "conv2d_backward";
  Conv2dParams p = make_params(op, x, dw, dy, stride, padding, dilation, groups);
  require_depthwise(op, p);
  return cuda::conv2d_wgrad_depthwise_workspace(p);
}

// dw or db may be None (not wanted); workspace holds conv2d_wgrad_depthwise_workspace floats.
void wgrad_depthwise(const DevArray4& dy, const DevArray4& x, const DevArray4& w_like, bool want_dw,
                     const std::optional<DevArray1>& db, const DevArray1& workspace, Pair stride, Pair padding,
                     Pair dilation, int64_t groups, int device, uintptr_t stream) {
  const char* op = "conv2d_backward";
  Conv2dParams p = make_params(op, x, w_like, dy, stride, padding, dilation, groups);
  require_depthwise(op, p);
  int64_t b_stride = 1;
  float* dbptr = const_cast<float*>(bias_ptr(db, p, b_stride));
  p.b_stride = b_stride;
  if (static_cast<size_t>(std::get<1>(workspace)) < cuda::conv2d_wgrad_depthwise_workspace(p) ||
      std::get<2>(workspace) != 1)
    throw py::value_error(std::string(op) + ": workspace too small or not contiguous");
  float* dwptr = want_dw ? dev_ptr<float>(w_like) : nullptr;
  float* ws = reinterpret_cast<float*>(std::get<0>(workspace));
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::conv2d_wgrad_depthwise(p, dev_ptr<const float>(dy), dev_ptr<const float>(x), dwptr, dbptr, ws,
                               as_stream(stream));
}

}  // namespace

void register_cuda_conv2d(py::module_& m) {
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
