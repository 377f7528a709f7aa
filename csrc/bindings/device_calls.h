// Device-array arguments of the GPU kernels -> checked Params and pointers, with no CUDA dependency:
// the CUDA bindings (cuda_pool2d.cpp, cuda_conv2d.cpp) launch what these return, and the CPU
// extension's serial emulation of the kernels (cuda_emulation.cpp) runs it on host memory, so both
// see exactly the same checks and Params.
//   device arrays: (data pointer, logical shape, strides in elements) tuples from
//   python/fastconv/_gpu_arrays.py; x, dx: (N, C, H, W), y, dy, indices: (N, C or K, P, Q),
//   w, dw: (K, C/groups, R, S), b, db: (K,)
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>

#include "fastconv/conv.h"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/conv_index.h"
#include "fastconv/pool.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace fastconv {
namespace bindings {

namespace py = pybind11;

using DevArray4 = std::tuple<uintptr_t, std::array<int64_t, 4>, std::array<int64_t, 4>>;
using DevArray1 = std::tuple<uintptr_t, int64_t, int64_t>;  // (pointer, length, stride)
using Pair = std::array<int64_t, 2>;

template <typename T>
inline T* dev_ptr(const DevArray4& a) {
  return reinterpret_cast<T*>(std::get<0>(a));
}

inline void copy_strides(const DevArray4& a, int64_t out[4]) {
  for (int i = 0; i < 4; ++i) out[i] = std::get<2>(a)[i];
}

inline std::string shape_str(const std::array<int64_t, 4>& s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ", " +
         std::to_string(s[3]) + ")";
}

inline void require_shape(const char* op, const DevArray4& a, const char* name, const std::array<int64_t, 4>& want) {
  if (std::get<1>(a) != want)
    throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_str(std::get<1>(a)) + ", expected " +
                          shape_str(want));
}

// ---------------------------------------------------------------- pooling

inline Pool2dParams pool_params(const char* op, const DevArray4& x, const DevArray4& y, const char* y_name,
                                Pair kernel, Pair stride, Pair padding, Pair dilation) {
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

struct MaxPoolFprop {
  Pool2dParams p;
  const float* x;
  float* y;
  int64_t* indices;  // may be null
};

inline MaxPoolFprop max_pool_fprop_call(const DevArray4& x, const DevArray4& y, const std::optional<DevArray4>& indices,
                                        Pair kernel, Pair stride, Pair padding, Pair dilation) {
  const char* op = "max_pool2d";
  MaxPoolFprop c{pool_params(op, x, y, "output", kernel, stride, padding, dilation), dev_ptr<const float>(x),
                 dev_ptr<float>(y), nullptr};
  if (indices) {
    require_shape(op, *indices, "indices", std::get<1>(y));
    copy_strides(*indices, c.p.i_strides);
    c.indices = dev_ptr<int64_t>(*indices);
  }
  check_pool2d_params(c.p);
  return c;
}

struct MaxPoolDgrad {
  Pool2dParams p;
  const float* dy;
  const float* x;
  const int64_t* indices;  // may be null
  float* dx;
  void* workspace;  // the windows' argmax when indices is null (max_pool2d_argmax_bytes)
};

// Length of the int64 workspace max_pool2d_backward needs: the argmax buffer without indices, else 0.
inline int64_t max_pool_dgrad_workspace_words(const Pool2dParams& p, bool has_indices) {
  return has_indices ? 0 : (gpu_elements::max_pool2d_argmax_bytes(p) + 7) / 8;
}

// The workspace length for these arguments (the shapes and geometry only), checked as the call is.
inline int64_t max_pool_dgrad_workspace(const DevArray4& dy, const DevArray4& x, bool has_indices, Pair kernel,
                                        Pair stride, Pair padding, Pair dilation) {
  Pool2dParams p = pool_params("max_pool2d_backward", x, dy, "grad_output", kernel, stride, padding, dilation);
  check_pool2d_params(p);
  return max_pool_dgrad_workspace_words(p, has_indices);
}

inline MaxPoolDgrad max_pool_dgrad_call(const DevArray4& dy, const DevArray4& x,
                                        const std::optional<DevArray4>& indices, const DevArray4& dx,
                                        const std::optional<DevArray1>& workspace, Pair kernel, Pair stride,
                                        Pair padding, Pair dilation) {
  const char* op = "max_pool2d_backward";
  MaxPoolDgrad c{pool_params(op, x, dy, "grad_output", kernel, stride, padding, dilation),
                 dev_ptr<const float>(dy),
                 dev_ptr<const float>(x),
                 nullptr,
                 dev_ptr<float>(dx),
                 nullptr};
  require_shape(op, dx, "grad_input", std::get<1>(x));
  copy_strides(dx, c.p.dx_strides);
  if (indices) {
    require_shape(op, *indices, "indices", std::get<1>(dy));
    copy_strides(*indices, c.p.i_strides);
    c.indices = dev_ptr<const int64_t>(*indices);
  }
  check_pool2d_params(c.p);
  const int64_t need = max_pool_dgrad_workspace_words(c.p, c.indices != nullptr);
  if (need > 0) {
    if (!workspace || std::get<2>(*workspace) != 1 || std::get<1>(*workspace) < need)
      throw py::value_error(std::string(op) + ": without indices a contiguous int64 workspace of at least " +
                            std::to_string(need) + " elements is required");
    c.workspace = reinterpret_cast<void*>(std::get<0>(*workspace));
  }
  return c;
}

struct AvgPoolFprop {
  Pool2dParams p;
  const float* x;
  float* y;
};

inline AvgPoolFprop avg_pool_fprop_call(const DevArray4& x, const DevArray4& y, Pair kernel, Pair stride,
                                        Pair padding, bool count_include_pad, int64_t divisor_override) {
  AvgPoolFprop c{pool_params("avg_pool2d", x, y, "output", kernel, stride, padding, Pair{1, 1}),
                 dev_ptr<const float>(x), dev_ptr<float>(y)};
  c.p.count_include_pad = count_include_pad;
  c.p.divisor_override = divisor_override;
  check_pool2d_params(c.p);
  return c;
}

struct AvgPoolDgrad {
  Pool2dParams p;  // x_strides describe dx
  const float* dy;
  float* dx;
};

inline AvgPoolDgrad avg_pool_dgrad_call(const DevArray4& dy, const DevArray4& dx, Pair kernel, Pair stride,
                                        Pair padding, bool count_include_pad, int64_t divisor_override) {
  AvgPoolDgrad c{pool_params("avg_pool2d_backward", dx, dy, "grad_output", kernel, stride, padding, Pair{1, 1}),
                 dev_ptr<const float>(dy), dev_ptr<float>(dx)};
  c.p.count_include_pad = count_include_pad;
  c.p.divisor_override = divisor_override;
  check_pool2d_params(c.p);
  return c;
}

// ---------------------------------------------------------------- depthwise conv2d

// x shaped like the input (x or dx), w like the weight (w or dw), y like the output (y or dy).
inline Conv2dParams conv_params(const char* op, const DevArray4& x, const DevArray4& w, const DevArray4& y,
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

inline Conv2dParams depthwise_params(const char* op, const DevArray4& x, const DevArray4& w, const DevArray4& y,
                                     Pair stride, Pair padding, Pair dilation, int64_t groups) {
  Conv2dParams p = conv_params(op, x, w, y, stride, padding, dilation, groups);
  if (!(p.groups == p.C && p.C > 0 && p.K % p.C == 0))
    throw py::value_error(std::string(op) + ": the CUDA backend runs depthwise convolutions (groups == C, K a "
                          "multiple of C) in this version, got C=" + std::to_string(p.C) + ", K=" +
                          std::to_string(p.K) + ", groups=" + std::to_string(p.groups));
  return p;
}

inline float* bias_ptr(const std::optional<DevArray1>& b, Conv2dParams& p) {
  if (!b) return nullptr;
  if (std::get<1>(*b) != p.K) throw py::value_error("conv2d: bias must have shape (out_channels,)");
  p.b_stride = std::get<2>(*b);
  return reinterpret_cast<float*>(std::get<0>(*b));
}

struct DepthwiseFprop {
  Conv2dParams p;
  const float* x;
  const float* w;
  const float* b;  // may be null
  float* y;
};

inline DepthwiseFprop depthwise_fprop_call(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b,
                                           const DevArray4& y, Pair stride, Pair padding, Pair dilation,
                                           int64_t groups) {
  DepthwiseFprop c{depthwise_params("conv2d", x, w, y, stride, padding, dilation, groups), dev_ptr<const float>(x),
                   dev_ptr<const float>(w), nullptr, dev_ptr<float>(y)};
  c.b = bias_ptr(b, c.p);
  return c;
}

struct DepthwiseDgrad {
  Conv2dParams p;  // x_strides describe dx
  const float* dy;
  const float* w;
  float* dx;
};

inline DepthwiseDgrad depthwise_dgrad_call(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride,
                                           Pair padding, Pair dilation, int64_t groups) {
  return DepthwiseDgrad{depthwise_params("conv2d_backward", dx, w, dy, stride, padding, dilation, groups),
                        dev_ptr<const float>(dy), dev_ptr<const float>(w), dev_ptr<float>(dx)};
}

struct DepthwiseWgrad {
  Conv2dParams p;  // w_strides describe dw, b_stride db
  const float* dy;
  const float* x;
  float* dw;  // may be null (not wanted)
  float* db;  // may be null
  float* workspace;
  int64_t workspace_floats;
};

// w_like is dw when want_dw, else the weight (its shape only).
inline DepthwiseWgrad depthwise_wgrad_call(const DevArray4& dy, const DevArray4& x, const DevArray4& w_like,
                                           bool want_dw, const std::optional<DevArray1>& db,
                                           const DevArray1& workspace, Pair stride, Pair padding, Pair dilation,
                                           int64_t groups) {
  DepthwiseWgrad c{depthwise_params("conv2d_backward", x, w_like, dy, stride, padding, dilation, groups),
                   dev_ptr<const float>(dy),
                   dev_ptr<const float>(x),
                   want_dw ? dev_ptr<float>(w_like) : nullptr,
                   nullptr,
                   reinterpret_cast<float*>(std::get<0>(workspace)),
                   std::get<1>(workspace)};
  c.db = bias_ptr(db, c.p);
  if (std::get<2>(workspace) != 1 || c.workspace_floats < gpu_elements::wgrad_depthwise_workspace_floats(c.p))
    throw py::value_error("conv2d_backward: workspace must be contiguous with at least " +
                          std::to_string(gpu_elements::wgrad_depthwise_workspace_floats(c.p)) + " floats");
  return c;
}

// ---------------------------------------------------------------- implicit-GEMM conv2d

inline Conv2dParams implicit_gemm_params(const char* op, const DevArray4& x, const DevArray4& w, const DevArray4& y,
                                         Pair stride, Pair padding, Pair dilation, int64_t groups) {
  Conv2dParams p = conv_params(op, x, w, y, stride, padding, dilation, groups);
  if (!conv_index::conv2d_implicit_gemm_fits(p))
    throw py::value_error(std::string(op) + ": too large for the GPU implicit-GEMM kernels (N*P*Q, N*H*W and "
                          "R*S*C/groups must stay below 2^31); split the batch");
  return p;
}

struct ImplicitGemmFprop {
  Conv2dParams p;
  const float* x;
  const float* w;
  const float* b;  // may be null
  float* y;
};

inline ImplicitGemmFprop implicit_gemm_fprop_call(const DevArray4& x, const DevArray4& w,
                                                  const std::optional<DevArray1>& b, const DevArray4& y, Pair stride,
                                                  Pair padding, Pair dilation, int64_t groups) {
  ImplicitGemmFprop c{implicit_gemm_params("conv2d", x, w, y, stride, padding, dilation, groups),
                      dev_ptr<const float>(x), dev_ptr<const float>(w), nullptr, dev_ptr<float>(y)};
  c.b = bias_ptr(b, c.p);
  return c;
}

struct ImplicitGemmDgrad {
  Conv2dParams p;  // x_strides describe dx
  const float* dy;
  const float* w;
  float* dx;
};

inline ImplicitGemmDgrad implicit_gemm_dgrad_call(const DevArray4& dy, const DevArray4& w, const DevArray4& dx,
                                                  Pair stride, Pair padding, Pair dilation, int64_t groups) {
  return ImplicitGemmDgrad{implicit_gemm_params("conv2d_backward", dx, w, dy, stride, padding, dilation, groups),
                           dev_ptr<const float>(dy), dev_ptr<const float>(w), dev_ptr<float>(dx)};
}

// Floats of workspace the wgrad needs: its split-K partial sums (0 when it does not split).
inline int64_t implicit_gemm_wgrad_workspace_floats(const Conv2dParams& p) {
  return conv_index::conv2d_wgrad_workspace_bytes(p) / int64_t(sizeof(float));
}

struct ImplicitGemmWgrad {
  Conv2dParams p;  // w_strides describe dw
  const float* dy;
  const float* x;
  float* dw;
  float* workspace;  // null when none is needed
};

inline ImplicitGemmWgrad implicit_gemm_wgrad_call(const DevArray4& dy, const DevArray4& x, const DevArray4& dw,
                                                  const DevArray1& workspace, Pair stride, Pair padding,
                                                  Pair dilation, int64_t groups) {
  ImplicitGemmWgrad c{implicit_gemm_params("conv2d_backward", x, dw, dy, stride, padding, dilation, groups),
                      dev_ptr<const float>(dy), dev_ptr<const float>(x), dev_ptr<float>(dw), nullptr};
  const int64_t need = implicit_gemm_wgrad_workspace_floats(c.p);
  if (need > 0) {
    if (std::get<2>(workspace) != 1 || std::get<1>(workspace) < need)
      throw py::value_error("conv2d_backward: workspace must be contiguous with at least " + std::to_string(need) +
                            " floats");
    c.workspace = reinterpret_cast<float*>(std::get<0>(workspace));
  }
  return c;
}

struct Bgrad {
  Conv2dParams p;  // N, K, P, Q, y_strides (dy), b_stride (db)
  const float* dy;
  float* db;
};

inline Bgrad bgrad_call(const DevArray4& dy, const DevArray1& db) {
  Bgrad c{Conv2dParams{}, dev_ptr<const float>(dy), reinterpret_cast<float*>(std::get<0>(db))};
  const auto& s = std::get<1>(dy);
  c.p.N = s[0], c.p.K = s[1], c.p.P = s[2], c.p.Q = s[3];
  copy_strides(dy, c.p.y_strides);
  if (std::get<1>(db) != c.p.K) throw py::value_error("conv2d_backward: grad_bias must have shape (out_channels,)");
  if (c.p.N * c.p.P * c.p.Q >= (int64_t(1) << 31))
    throw py::value_error("conv2d_backward: N*P*Q must stay below 2^31 for the GPU bias gradient");
  c.p.b_stride = std::get<2>(db);
  return c;
}

}  // namespace bindings
}  // namespace fastconv
