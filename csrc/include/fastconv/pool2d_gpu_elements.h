// The per-element bodies of the CUDA pooling kernels (csrc/cuda/pool2d_*.cu): one call computes one
// output (forward) or one input gradient (backward) element, given its flat index in the walk
// order (planar: w fastest; channels-last: c fastest). The kernels call them from a grid-stride
// loop; the CPU extension runs them serially over every index (_C._emulate_cuda_*, used by
// tests/test_gpu_interop.py), so their arithmetic is tested on every machine.
//   x, dx: (N, C, H, W)   y, dy, indices: (N, C, P, Q)   any element strides (Pool2dParams)
#pragma once

#include <cmath>
#include <cstdint>

#include "fastconv/host_device.h"
#include "fastconv/pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace gpu_elements {

// Max pool forward at output i. Padding is -inf and never chosen; the taps inside the input are
// scanned in row-major order and replace the maximum when `v > best || isnan(v)`; the index is
// h * W + w, torch's "first tap moved inside" for a window with no tap inside. y or indices may be
// null.
FASTCONV_HOST_DEVICE void max_pool2d_fprop_at(const Pool2dParams& p, const float* __restrict__ x, float* y,
                                              int64_t* indices, int64_t i, bool channels_last) {
  const index::Coord4 o = channels_last ? index::unravel_nhwc(i, p.C, p.P, p.Q) : index::unravel_nchw(i, p.C, p.P, p.Q);
  const int64_t h0 = o.h * p.stride_h - p.pad_h;
  const int64_t w0 = o.w * p.stride_w - p.pad_w;
  const index::Range rr = index::inside_taps(h0, p.kernel_h, p.dilation_h, p.H);
  const index::Range sr = index::inside_taps(w0, p.kernel_w, p.dilation_w, p.W);
  float best = -INFINITY;
  int64_t arg = (h0 + rr.lo * p.dilation_h) * p.W + (w0 + sr.lo * p.dilation_w);
  const float* xp = x + (o.n * p.x_strides[0] + o.c * p.x_strides[1]);
  for (int64_t r = rr.lo; r < rr.hi; ++r) {
    const int64_t h = h0 + r * p.dilation_h;
    for (int64_t s = sr.lo; s < sr.hi; ++s) {
      const int64_t w = w0 + s * p.dilation_w;
      const float v = FASTCONV_LDG(xp + (h * p.x_strides[2] + w * p.x_strides[3]));
      if (v > best || v != v) {
        best = v;
        arg = h * p.W + w;
      }
    }
  }
  if (y) y[index::offset4(p.y_strides, o)] = best;
  if (indices) indices[index::offset4(p.i_strides, o)] = arg;
}

// Flat index h * W + w of the maximum of window (oh, ow) of the plane at xp, as the forward finds
// it; -1 for a window without any tap inside (its gradient goes nowhere).
FASTCONV_HOST_DEVICE int64_t max_pool2d_window_argmax(const Pool2dParams& p, const float* __restrict__ xp, int64_t oh,
                                                      int64_t ow) {
  const int64_t h0 = oh * p.stride_h - p.pad_h;
  const int64_t w0 = ow * p.stride_w - p.pad_w;
  const index::Range rr = index::inside_taps(h0, p.kernel_h, p.dilation_h, p.H);
  const index::Range sr = index::inside_taps(w0, p.kernel_w, p.dilation_w, p.W);
  if (rr.lo == rr.hi || sr.lo == sr.hi) return -1;
  // All taps -inf keep the forward's default: the first tap inside.
  int64_t arg = (h0 + rr.lo * p.dilation_h) * p.W + (w0 + sr.lo * p.dilation_w);
  float best = -INFINITY;
  for (int64_t r = rr.lo; r < rr.hi; ++r) {
    const int64_t h = h0 + r * p.dilation_h;
    for (int64_t s = sr.lo; s < sr.hi; ++s) {
      const int64_t w = w0 + s * p.dilation_w;
      const float v = FASTCONV_LDG(xp + (h * p.x_strides[2] + w * p.x_strides[3]));
      if (v > best || v != v) {
        best = v;
        arg = h * p.W + w;
      }
    }
  }
  return arg;
}

// Max pool backward at input element i (dx_strides): the sum, over the windows that can cover it in
// (oh, ow) order, of dy where the window's argmax (indices, or recomputed from x when indices is
// null) is this element.
FASTCONV_HOST_DEVICE void max_pool2d_dgrad_at(const Pool2dParams& p, const float* __restrict__ dy,
                                              const float* __restrict__ x, const int64_t* __restrict__ indices,
                                              float* dx, int64_t i, bool channels_last) {
  const index::Coord4 e = channels_last ? index::unravel_nhwc(i, p.C, p.H, p.W) : index::unravel_nchw(i, p.C, p.H, p.W);
  const index::Range ph = index::covering_outputs(e.h, p.dilation_h * (p.kernel_h - 1) + 1, p.stride_h, p.pad_h, p.P);
  const index::Range pw = index::covering_outputs(e.w, p.dilation_w * (p.kernel_w - 1) + 1, p.stride_w, p.pad_w, p.Q);
  const int64_t me = e.h * p.W + e.w;
  const float* dyp = dy + (e.n * p.y_strides[0] + e.c * p.y_strides[1]);
  float acc = 0.0f;
  if (indices) {
    const int64_t* ip = indices + (e.n * p.i_strides[0] + e.c * p.i_strides[1]);
    for (int64_t oh = ph.lo; oh < ph.hi; ++oh)
      for (int64_t ow = pw.lo; ow < pw.hi; ++ow)
        if (FASTCONV_LDG(ip + (oh * p.i_strides[2] + ow * p.i_strides[3])) == me)
          acc += FASTCONV_LDG(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3]));
  } else {
    const float* xp = x + (e.n * p.x_strides[0] + e.c * p.x_strides[1]);
    for (int64_t oh = ph.lo; oh < ph.hi; ++oh)
      for (int64_t ow = pw.lo; ow < pw.hi; ++ow)
        if (max_pool2d_window_argmax(p, xp, oh, ow) == me)
          acc += FASTCONV_LDG(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3]));
  }
  dx[index::offset4(p.dx_strides, e)] = acc;
}

// Average pool forward at output i: the taps inside the input summed in row-major order, divided
// once by torch's divisor (as the CPU path's generic loops).
FASTCONV_HOST_DEVICE void avg_pool2d_fprop_at(const Pool2dParams& p, const float* __restrict__ x, float* y, int64_t i,
                                              bool channels_last) {
  const index::Coord4 o = channels_last ? index::unravel_nhwc(i, p.C, p.P, p.Q) : index::unravel_nchw(i, p.C, p.P, p.Q);
  const index::AvgSpan sh = index::avg_window(o.h, p.kernel_h, p.stride_h, p.pad_h, p.H);
  const index::AvgSpan sw = index::avg_window(o.w, p.kernel_w, p.stride_w, p.pad_w, p.W);
  const float* xp = x + (o.n * p.x_strides[0] + o.c * p.x_strides[1]);
  float sum = 0.0f;
  for (int64_t h = sh.lo; h < sh.hi; ++h)
    for (int64_t w = sw.lo; w < sw.hi; ++w) sum += FASTCONV_LDG(xp + (h * p.x_strides[2] + w * p.x_strides[3]));
  const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, p.divisor_override));
  y[index::offset4(p.y_strides, o)] = sum / div;
}

// Average pool backward at input element i (x_strides describe dx): the sum over the windows
// containing it, in (oh, ow) order, of dy / divisor.
FASTCONV_HOST_DEVICE void avg_pool2d_dgrad_at(const Pool2dParams& p, const float* __restrict__ dy, float* dx,
                                              int64_t i, bool channels_last) {
  const index::Coord4 e = channels_last ? index::unravel_nhwc(i, p.C, p.H, p.W) : index::unravel_nchw(i, p.C, p.H, p.W);
  const index::Range ph = index::covering_outputs(e.h, p.kernel_h, p.stride_h, p.pad_h, p.P);
  const index::Range pw = index::covering_outputs(e.w, p.kernel_w, p.stride_w, p.pad_w, p.Q);
  const float* dyp = dy + (e.n * p.y_strides[0] + e.c * p.y_strides[1]);
  float acc = 0.0f;
  for (int64_t oh = ph.lo; oh < ph.hi; ++oh) {
    const index::AvgSpan sh = index::avg_window(oh, p.kernel_h, p.stride_h, p.pad_h, p.H);
    for (int64_t ow = pw.lo; ow < pw.hi; ++ow) {
      const index::AvgSpan sw = index::avg_window(ow, p.kernel_w, p.stride_w, p.pad_w, p.W);
      const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, p.divisor_override));
      acc += FASTCONV_LDG(dyp + (oh * p.y_strides[2] + ow * p.y_strides[3])) / div;
    }
  }
  dx[index::offset4(p.x_strides, e)] = acc;
}

// Walk order of a kernel writing an (N, C, ., .) tensor with these strides: channels fastest when
// they are contiguous (NHWC), else the last axis fastest.
FASTCONV_HOST_DEVICE bool walks_channels_last(const int64_t* strides, int64_t channels) {
  return channels > 1 && strides[1] == 1;
}

}  // namespace gpu_elements
}  // namespace fastconv
