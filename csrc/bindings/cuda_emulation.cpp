// Serial CPU emulation of the CUDA kernels, for tests on any machine (tests/test_gpu_interop.py).
// Same arguments as the _C.cuda_* bindings without device and stream, the same checks and Params
// (device_calls.h), and the same per-element code (fastconv/*_gpu_elements.h), run over every
// element index in the kernels' walk order on host memory. The depthwise wgrad's first pass is
// replayed block by block: each thread lane's pixel sums, then the block's fixed reduction tree.
// The implicit-GEMM kernels' emulation is implicit_gemm_emulation.h's (their bits, in float).
// What is not emulated: launch geometry, the grid-stride loops, shared memory and synchronisation.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/device_calls.h"
#include "bindings/implicit_gemm_emulation.h"
#include "fastconv/conv2d_depthwise_gpu_elements.h"
#include "fastconv/gpu_index_width.h"
#include "fastconv/pool2d_gpu_elements.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

namespace ge = gpu_elements;

// Each element kernel at the index width its launcher picks (gpu_index_width.h; 64-bit when
// _C._set_gpu_index_bits(64) forces it): calls run(tag) with tag an int32_t or int64_t value.
template <typename Params, typename Run>
void at_index_width(const Params& p, Run run) {
  if (ge::use_index32(p))
    run(int32_t(0));
  else
    run(int64_t(0));
}

void max_fprop(const DevArray4& x, const DevArray4& y, const std::optional<DevArray4>& indices, Pair kernel,
               Pair stride, Pair padding, Pair dilation) {
  const MaxPoolFprop c = max_pool_fprop_call(x, y, indices, kernel, stride, padding, dilation);
  const bool cl = ge::walks_channels_last(c.y ? c.p.y_strides : c.p.i_strides, c.p.C);
  at_index_width(c.p, [&](auto tag) {
    using I = decltype(tag);
    const auto ix = ge::pool2d_element_index<I>(c.p, c.p.C, c.p.P, c.p.Q, cl);
    const I total = I(c.p.N * c.p.C * c.p.P * c.p.Q);
    for (I i = 0; i < total; ++i) ge::max_pool2d_fprop_at<I>(c.p, ix, c.x, c.y, c.indices, i, cl);
  });
}

// With indices the gather alone; without, the argmax pass into the workspace first, as
// pool2d_max_bprop.cu does.
template <typename I>
void max_dgrad_at_width(const MaxPoolDgrad& c) {
  Pool2dParams p = c.p;
  const bool cl = ge::walks_channels_last(p.dx_strides, p.C);
  const auto ix = ge::pool2d_element_index<I>(p, p.C, p.H, p.W, cl);
  const I total = I(p.N * p.C * p.H * p.W);
  auto gather = [&](auto* indices) {
    for (I i = 0; i < total; ++i) ge::max_pool2d_dgrad_at<I>(p, ix, c.dy, indices, c.dx, i, cl);
  };
  if (c.indices) {
    gather(c.indices);
    return;
  }
  auto two_pass = [&](auto* argmax) {
    const auto ox = ge::pool2d_element_index<I>(p, p.C, p.P, p.Q, cl);
    const I outputs = I(p.N * p.C * p.P * p.Q);
    for (I i = 0; i < outputs; ++i) ge::max_pool2d_argmax_at<I>(p, ox, c.x, argmax, i, cl);
    ge::max_pool2d_argmax_strides(p, cl, p.i_strides);
    gather(static_cast<const std::remove_pointer_t<decltype(argmax)>*>(argmax));
  };
  if (ge::max_pool2d_argmax_is_int32(p))
    two_pass(static_cast<int32_t*>(c.workspace));
  else
    two_pass(static_cast<int64_t*>(c.workspace));
}

void max_dgrad(const DevArray4& dy, const DevArray4& x, const std::optional<DevArray4>& indices, const DevArray4& dx,
               const std::optional<DevArray1>& workspace, Pair kernel, Pair stride, Pair padding, Pair dilation) {
  const MaxPoolDgrad c = max_pool_dgrad_call(dy, x, indices, dx, workspace, kernel, stride, padding, dilation);
  if (c.p.N * c.p.C * c.p.H * c.p.W == 0) return;
  at_index_width(c.p, [&](auto tag) { max_dgrad_at_width<decltype(tag)>(c); });
}

void avg_fprop(const DevArray4& x, const DevArray4& y, Pair kernel, Pair stride, Pair padding, bool count_include_pad,
               int64_t divisor_override) {
  const AvgPoolFprop c = avg_pool_fprop_call(x, y, kernel, stride, padding, count_include_pad, divisor_override);
  const bool cl = ge::walks_channels_last(c.p.y_strides, c.p.C);
  at_index_width(c.p, [&](auto tag) {
    using I = decltype(tag);
    const auto ix = ge::pool2d_element_index<I>(c.p, c.p.C, c.p.P, c.p.Q, cl);
    const I total = I(c.p.N * c.p.C * c.p.P * c.p.Q);
    for (I i = 0; i < total; ++i) ge::avg_pool2d_fprop_at<I>(c.p, ix, c.x, c.y, i, cl);
  });
}

void avg_dgrad(const DevArray4& dy, const DevArray4& dx, Pair kernel, Pair stride, Pair padding,
               bool count_include_pad, int64_t divisor_override) {
  const AvgPoolDgrad c = avg_pool_dgrad_call(dy, dx, kernel, stride, padding, count_include_pad, divisor_override);
  const bool cl = ge::walks_channels_last(c.p.x_strides, c.p.C);
  at_index_width(c.p, [&](auto tag) {
    using I = decltype(tag);
    const auto ix = ge::pool2d_element_index<I>(c.p, c.p.C, c.p.H, c.p.W, cl);
    const I total = I(c.p.N * c.p.C * c.p.H * c.p.W);
    for (I i = 0; i < total; ++i) ge::avg_pool2d_dgrad_at<I>(c.p, ix, c.dy, c.dx, i, cl);
  });
}

int64_t max_dgrad_workspace(const DevArray4& dy, const DevArray4& x, bool has_indices, Pair kernel, Pair stride,
                            Pair padding, Pair dilation) {
  return max_pool_dgrad_workspace(dy, x, has_indices, kernel, stride, padding, dilation);
}

void fprop_depthwise(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b, const DevArray4& y,
                     Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const DepthwiseFprop c = depthwise_fprop_call(x, w, b, y, stride, padding, dilation, groups);
  const bool cl = ge::walks_channels_last(c.p.y_strides, c.p.K);
  at_index_width(c.p, [&](auto tag) {
    using I = decltype(tag);
    const auto ix = ge::depthwise_element_index<I>(c.p, c.p.K, c.p.P, c.p.Q, cl);
    const I total = I(c.p.N * c.p.K * c.p.P * c.p.Q);
    for (I i = 0; i < total; ++i) ge::conv2d_fprop_depthwise_at<I>(c.p, ix, c.x, c.w, c.b, c.y, i, cl);
  });
}

void dgrad_depthwise(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride, Pair padding,
                     Pair dilation, int64_t groups) {
  const DepthwiseDgrad c = depthwise_dgrad_call(dy, w, dx, stride, padding, dilation, groups);
  const bool cl = ge::walks_channels_last(c.p.x_strides, c.p.C);
  at_index_width(c.p, [&](auto tag) {
    using I = decltype(tag);
    const auto ix = ge::depthwise_element_index<I>(c.p, c.p.C, c.p.H, c.p.W, cl);
    const I total = I(c.p.N * c.p.C * c.p.H * c.p.W);
    for (I i = 0; i < total; ++i) ge::conv2d_dgrad_depthwise_at<I>(c.p, ix, c.dy, c.w, c.dx, i, cl);
  });
}

// Pass 1 of conv2d_wgrad_depthwise.cu for one block (channel lanes kb * KL ..., chunk), then pass 2.
void wgrad_depthwise(const DevArray4& dy, const DevArray4& x, const DevArray4& w_like, bool want_dw,
                     const std::optional<DevArray1>& db, const DevArray1& workspace, Pair stride, Pair padding,
                     Pair dilation, int64_t groups) {
  const DepthwiseWgrad c =
      depthwise_wgrad_call(dy, x, w_like, want_dw, db, workspace, stride, padding, dilation, groups);
  const Conv2dParams& p = c.p;
  if (p.K == 0 || (c.dw == nullptr && c.db == nullptr)) return;
  const int64_t chunks = ge::wgrad_depthwise_chunks(p);
  const int KL = ge::wgrad_depthwise_channel_lanes(p);
  const int PL = ge::kWgradBlock / KL;
  const int64_t RS = p.R * p.S, T = RS + 1;
  const int64_t rounds = c.dw ? (RS + ge::kWgradTaps - 1) / ge::kWgradTaps : 1;
  const int64_t pixels = p.N * p.P * p.Q;
  std::vector<float> red(static_cast<size_t>(PL) * (ge::kWgradTaps + 1));
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t begin = chunk * ge::wgrad_depthwise_chunk_pixels(p);
    const int64_t end = std::min(pixels, begin + ge::wgrad_depthwise_chunk_pixels(p));
    for (int64_t k = 0; k < p.K; ++k) {
      const int64_t ch = k / (p.K / p.C);
      for (int64_t g = 0; g < rounds; ++g) {
        int64_t tap_h[ge::kWgradTaps], tap_w[ge::kWgradTaps];
        const int nt = ge::wgrad_depthwise_tap_group(p, g, c.dw != nullptr, tap_h, tap_w);
        for (int y = 0; y < PL; ++y) {
          float* acc = &red[static_cast<size_t>(y) * (ge::kWgradTaps + 1)];
          for (int j = 0; j <= ge::kWgradTaps; ++j) acc[j] = 0.0f;
          for (int64_t pix = begin + y; pix < end; pix += PL)
            ge::conv2d_wgrad_depthwise_pixel(p, c.dy, c.x, k, ch, pix, nt, tap_h, tap_w, acc);
        }
        for (int half = PL / 2; half > 0; half /= 2)
          for (int y = 0; y < half; ++y)
            for (int j = 0; j <= ge::kWgradTaps; ++j)
              red[static_cast<size_t>(y) * (ge::kWgradTaps + 1) + j] +=
                  red[static_cast<size_t>(y + half) * (ge::kWgradTaps + 1) + j];
        float* out = c.workspace + (chunk * p.K + k) * T;
        for (int j = 0; j < nt; ++j) out[g * ge::kWgradTaps + j] = red[j];
        if (c.db && g == 0) out[RS] = red[ge::kWgradTaps];
      }
    }
  }
  for (int64_t i = 0; i < p.K * T; ++i) ge::conv2d_wgrad_depthwise_reduce_at(p, c.workspace, chunks, c.dw, c.db, i);
}

size_t wgrad_depthwise_workspace(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, Pair stride,
                                 Pair padding, Pair dilation, int64_t groups) {
  return static_cast<size_t>(ge::wgrad_depthwise_workspace_floats(
      depthwise_params("conv2d_backward", x, dw, dy, stride, padding, dilation, groups)));
}

void fprop_implicit_gemm(const DevArray4& x, const DevArray4& w, const std::optional<DevArray1>& b,
                         const DevArray4& y, Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const ImplicitGemmFprop c = implicit_gemm_fprop_call(x, w, b, y, stride, padding, dilation, groups);
  emulation::conv2d_fprop_implicit_gemm<float>(c.p, c.x, c.w, c.b, c.y);
}

void dgrad_implicit_gemm(const DevArray4& dy, const DevArray4& w, const DevArray4& dx, Pair stride, Pair padding,
                         Pair dilation, int64_t groups) {
  const ImplicitGemmDgrad c = implicit_gemm_dgrad_call(dy, w, dx, stride, padding, dilation, groups);
  emulation::conv2d_dgrad_implicit_gemm<float>(c.p, c.dy, c.w, c.dx);
}

int64_t wgrad_implicit_gemm_workspace(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, Pair stride,
                                      Pair padding, Pair dilation, int64_t groups) {
  return implicit_gemm_wgrad_workspace_floats(
      implicit_gemm_params("conv2d_backward", x, dw, dy, stride, padding, dilation, groups));
}

void wgrad_implicit_gemm(const DevArray4& dy, const DevArray4& x, const DevArray4& dw, const DevArray1& workspace,
                         Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const ImplicitGemmWgrad c = implicit_gemm_wgrad_call(dy, x, dw, workspace, stride, padding, dilation, groups);
  emulation::conv2d_wgrad_implicit_gemm<float>(c.p, c.dy, c.x, c.dw, c.workspace);
}

void bgrad(const DevArray4& dy, const DevArray1& db) {
  const Bgrad c = bgrad_call(dy, db);
  emulation::conv2d_bgrad<float>(c.p, c.dy, c.db);
}

}  // namespace

void register_cuda_emulation(py::module_& m) {
  // Both the kernels and this emulation read it: 64 forces the 64-bit index path, 0 restores the
  // choice by problem size.
  m.def("_set_gpu_index_bits", [](int bits) {
    if (bits != 0 && bits != 64)
      throw py::value_error("_set_gpu_index_bits: bits must be 0 or 64, got " + std::to_string(bits));
    ge::index_bits_override().store(bits);
  });
  m.def("_gpu_index32_fits_pool2d", [](const DevArray4& x, const DevArray4& y, Pair kernel, Pair stride, Pair padding,
                                       Pair dilation) {
    Pool2dParams p = pool_params("max_pool2d", x, y, "output", kernel, stride, padding, dilation);
    return ge::index32_fits(p);
  });
  m.def("_emulate_cuda_conv2d_fprop_implicit_gemm", &fprop_implicit_gemm);
  m.def("_emulate_cuda_conv2d_dgrad_implicit_gemm", &dgrad_implicit_gemm);
  m.def("_emulate_cuda_conv2d_wgrad_implicit_gemm_workspace", &wgrad_implicit_gemm_workspace);
  m.def("_emulate_cuda_conv2d_wgrad_implicit_gemm", &wgrad_implicit_gemm);
  m.def("_emulate_cuda_conv2d_bgrad", &bgrad);
  m.def("_emulate_cuda_max_pool2d_fprop", &max_fprop);
  m.def("_emulate_cuda_max_pool2d_dgrad_workspace", &max_dgrad_workspace);
  m.def("_emulate_cuda_max_pool2d_dgrad", &max_dgrad);
  m.def("_emulate_cuda_avg_pool2d_fprop", &avg_fprop);
  m.def("_emulate_cuda_avg_pool2d_dgrad", &avg_dgrad);
  m.def("_emulate_cuda_conv2d_fprop_depthwise", &fprop_depthwise);
  m.def("_emulate_cuda_conv2d_dgrad_depthwise", &dgrad_depthwise);
  m.def("_emulate_cuda_conv2d_wgrad_depthwise_workspace", &wgrad_depthwise_workspace);
  m.def("_emulate_cuda_conv2d_wgrad_depthwise", &wgrad_depthwise);
}

}  // namespace bindings
}  // namespace fastconv
