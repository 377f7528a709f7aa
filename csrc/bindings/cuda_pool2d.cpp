// CUDA pooling bindings: device arrays (pointer, logical shape, element strides) -> Pool2dParams ->
// kernels on the given stream and device, GIL released.
//   x, dx: (N, C, H, W)   y, dy, indices: (N, C, P, Q)   float32; indices int64 (flat h * W + w)
#ifdef FASTCONV_WITH_CUDA

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>

#include "bindings/cuda_launch.h"
#include "fastconv/cuda_pool.h"
#include "fastconv/pool.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

using Pair = std::array<int64_t, 2>;

Pool2dParams make_params(const char* op, const DevArray4& x, const DevArray4& y,
                         const char* y_name, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  Pool2dParams p;
  const auto& xs = std::get<1>(x);
  const auto& ys = std::get<1>(y);
  p.N = xs[0], p.C = xs[1], p.H = xs[2], p.W = xs[3];
  p.P = ys[2], p.Q = ys[3];
  require_shape(op, y, y_name, {p.N, p.C, p.P, p.Q});
  copy_strides(x, p.x_strides);
  copy_strides(y, p.y_strides);
  p.kernel_h = kernel[0], p.kernel_w = kernel[1];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  return p;
}

void max_fprop(const DevArray4& x, const DevArray4& y, std::optional<DevArray4> indices, Pair kernel, Pair stride,
               Pair padding, Pair dilation, int device, uintptr_t stream) {
  const char* op = "max_pool2d";
  Pool2dParams p = make_params(op, x, y, "output", kernel, stride, padding, dilation);
  int64_t* iptr = nullptr;
  if (indices) {
    require_shape(op, *indices, "indices", std::get<1>(y));
    copy_strides(*indices, p.i_strides);
    iptr = dev_ptr<int64_t>(*indices);
  }
  check_pool2d_params(p);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::max_pool2d_fprop(p, dev_ptr<const float>(x), dev_ptr<float>(y), iptr, as_stream(stream));
}

void max_dgrad(const DevArray4& dy, const DevArray4& x, std::optional<DevArray4> indices, const DevArray4& dx,
               Pair kernel, Pair stride, Pair padding, Pair dilation, int device, uintptr_t stream) {
  const char* op = "max_pool2d_backward";
  Pool2dParams p = make_params(op, x, dy, "grad_output", kernel, stride, padding, dilation);
  require_shape(op, dx, "grad_input", std::get<1>(x));
  copy_strides(dx, p.dx_strides);
  const int64_t* iptr = nullptr;
  if (indices) {
    require_shape(op, *indices, "indices", std::get<1>(dy));
    copy_strides(*indices, p.i_strides);
    iptr = dev_ptr<const int64_t>(*indices);
  }
  check_pool2d_params(p);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::max_pool2d_dgrad(p, dev_ptr<const float>(dy), dev_ptr<const float>(x), iptr, dev_ptr<float>(dx),
                         as_stream(stream));
}

void avg_fprop(const DevArray4& x, const DevArray4& y, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
               int64_t divisor_override, int device, uintptr_t stream) {
  Pool2dParams p = make_params("avg_pool2d", x, y, "output", kernel, stride, padding, Pair{1, 1});
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  check_pool2d_params(p);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::avg_pool2d_fprop(p, dev_ptr<const float>(x), dev_ptr<float>(y), as_stream(stream));
}

void avg_dgrad(const DevArray4& dy, const DevArray4& dx, Pair kernel, Pair stride, Pair padding,
               bool count_include_pad, int64_t divisor_override, int device, uintptr_t stream) {
  Pool2dParams p =
      make_params("avg_pool2d_backward", dx, dy, "grad_output", kernel, stride, padding, Pair{1, 1});
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  check_pool2d_params(p);
  py::gil_scoped_release release;
  DeviceGuard guard(device);
  cuda::avg_pool2d_dgrad(p, dev_ptr<const float>(dy), dev_ptr<float>(dx), as_stream(stream));
}

}  // namespace

void register_cuda_pool2d(py::module_& m) {
  m.def("cuda_max_pool2d_fprop", &max_fprop, py::arg("x"), py::arg("y"), py::arg("indices").none(true),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("device"),
        py::arg("stream"));
  m.def("cuda_max_pool2d_dgrad", &max_dgrad, py::arg("dy"), py::arg("x"), py::arg("indices").none(true),
        py::arg("dx"), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("device"), py::arg("stream"));
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
