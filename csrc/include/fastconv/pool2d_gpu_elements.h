// The per-element bodies of the CUDA pooling kernels (csrc/cuda/pool2d_*.cu): one call computes one
// output (forward) or one input gradient (backward) element, given its flat index in the walk
// order (planar: w fastest; channels-last: c fastest). The kernels call them from a grid-stride
// loop; the CPU extension runs them serially over every index (_C._emulate_cuda_*, used by
// tests/test_gpu_interop.py), so their arithmetic is tested on every machine.
// Index arithmetic runs in I: int32_t when the problem fits (gpu_index_width.h), else int64_t; the
// divisions by problem constants use the host-made ElementIndex<I>. Integer results are exact in
// either width and the float operations are the same, so both widths give the same bits.
//   x, dx: (N, C, H, W)   y, dy, indices: (N, C, P, Q)   any element strides (Pool2dParams)
#pragma once

#include <cmath>
#include <cstdint>

#include "fastconv/host_device.h"
#include "fastconv/pool.h"
#include "fastconv/pool_index.h"

namespace fastconv {
namespace gpu_elements {

// The divisors of an element kernel: the walked tensor's extents, strides and dilations, and
// (depthwise convolution) the channel multiplier K / C.
template <typename I>
struct ElementIndex {
  index::Walk<I> walk;
  index::Divider<I> stride_h, stride_w, dilation_h, dilation_w;
  index::Divider<I> multiplier;
};

// For a kernel walking an (N, C, H, W) tensor of a pooling problem.
template <typename I>
ElementIndex<I> pool2d_element_index(const Pool2dParams& p, int64_t C, int64_t H, int64_t W, bool channels_last) {
  ElementIndex<I> e;
  e.walk = index::make_walk<I>(C, H, W, channels_last);
  e.stride_h = index::Divider<I>(p.stride_h);
  e.stride_w = index::Divider<I>(p.stride_w);
  e.dilation_h = index::Divider<I>(p.dilation_h);
  e.dilation_w = index::Divider<I>(p.dilation_w);
  return e;
}

// Max pool forward at output i. Padding is -inf and never chosen; the taps inside the input are
// scanned in row-major order and replace the maximum when `v > best || isnan(v)`; the index is
// h * W + w, torch's "first tap moved inside" for a window with no tap inside. y or indices may be
// null.
template <typename I>
FASTCONV_HOST_DEVICE void max_pool2d_fprop_at(const Pool2dParams& p, const ElementIndex<I>& ix,
                                              const float* __restrict__ x, float* y, int64_t* indices, I i,
                                              bool channels_last) {
  const index::Coord4Of<I> o = index::unravel(i, ix.walk, channels_last);
  const I dh = I(p.dilation_h), dw = I(p.dilation_w), W = I(p.W);
  const I xs2 = I(p.x_strides[2]), xs3 = I(p.x_strides[3]);
  const I h0 = o.h * I(p.stride_h) - I(p.pad_h);
  const I w0 = o.w * I(p.stride_w) - I(p.pad_w);
  const index::RangeOf<I> rr = index::inside_taps(h0, I(p.kernel_h), ix.dilation_h, I(p.H));
  const index::RangeOf<I> sr = index::inside_taps(w0, I(p.kernel_w), ix.dilation_w, W);
  float best = -INFINITY;
  I arg = (h0 + rr.lo * dh) * W + (w0 + sr.lo * dw);
  const float* xp = x + (o.n * I(p.x_strides[0]) + o.c * I(p.x_strides[1]));
  for (I r = rr.lo; r < rr.hi; ++r) {
    const I h = h0 + r * dh;
    for (I s = sr.lo; s < sr.hi; ++s) {
      const I w = w0 + s * dw;
      const float v = FASTCONV_LDG(xp + (h * xs2 + w * xs3));
      if (v > best || v != v) {
        best = v;
        arg = h * W + w;
      }
    }
  }
  if (y) y[index::offset4(p.y_strides, o)] = best;
  if (indices) indices[index::offset4(p.i_strides, o)] = int64_t(arg);
}

// Flat index h * W + w of the maximum of window (oh, ow) of the plane at xp, as the forward finds
// it; -1 for a window without any tap inside (its gradient goes nowhere).
template <typename I>
FASTCONV_HOST_DEVICE I max_pool2d_window_argmax(const Pool2dParams& p, const ElementIndex<I>& ix,
                                                const float* __restrict__ xp, I oh, I ow) {
  const I dh = I(p.dilation_h), dw = I(p.dilation_w), W = I(p.W);
  const I xs2 = I(p.x_strides[2]), xs3 = I(p.x_strides[3]);
  const I h0 = oh * I(p.stride_h) - I(p.pad_h);
  const I w0 = ow * I(p.stride_w) - I(p.pad_w);
  const index::RangeOf<I> rr = index::inside_taps(h0, I(p.kernel_h), ix.dilation_h, I(p.H));
  const index::RangeOf<I> sr = index::inside_taps(w0, I(p.kernel_w), ix.dilation_w, W);
  if (rr.lo == rr.hi || sr.lo == sr.hi) return -1;
  // All taps -inf keep the forward's default: the first tap inside.
  I arg = (h0 + rr.lo * dh) * W + (w0 + sr.lo * dw);
  float best = -INFINITY;
  for (I r = rr.lo; r < rr.hi; ++r) {
    const I h = h0 + r * dh;
    for (I s = sr.lo; s < sr.hi; ++s) {
      const I w = w0 + s * dw;
      const float v = FASTCONV_LDG(xp + (h * xs2 + w * xs3));
      if (v > best || v != v) {
        best = v;
        arg = h * W + w;
      }
    }
  }
  return arg;
}

// Max pool backward without indices, first pass, at output i (walked like the second pass's dx):
// window i's argmax (max_pool2d_window_argmax) into argmax[i], a dense (N, C, P, Q) buffer in the
// walk order (max_pool2d_argmax_strides). J is int32_t when H * W fits it, else int64_t.
template <typename I, typename J>
FASTCONV_HOST_DEVICE void max_pool2d_argmax_at(const Pool2dParams& p, const ElementIndex<I>& ix,
                                               const float* __restrict__ x, J* argmax, I i, bool channels_last) {
  const index::Coord4Of<I> o = index::unravel(i, ix.walk, channels_last);
  const float* xp = x + (o.n * I(p.x_strides[0]) + o.c * I(p.x_strides[1]));
  argmax[i] = J(max_pool2d_window_argmax(p, ix, xp, o.h, o.w));
}

// Element strides (n, c, p, q) of the first pass's argmax buffer: dense, in the walk order.
FASTCONV_HOST_DEVICE void max_pool2d_argmax_strides(const Pool2dParams& p, bool channels_last, int64_t* strides) {
  strides[0] = p.C * p.P * p.Q;
  strides[1] = channels_last ? 1 : p.P * p.Q;
  strides[2] = channels_last ? p.Q * p.C : p.Q;
  strides[3] = channels_last ? p.C : 1;
}

// Whether the argmax buffer can hold int32_t indices (every h * W + w and -1 fit).
FASTCONV_HOST_DEVICE bool max_pool2d_argmax_is_int32(const Pool2dParams& p) { return p.H * p.W <= INT32_MAX; }

// Bytes of the argmax buffer max_pool2d_dgrad needs without indices.
FASTCONV_HOST_DEVICE int64_t max_pool2d_argmax_bytes(const Pool2dParams& p) {
  return p.N * p.C * p.P * p.Q * (max_pool2d_argmax_is_int32(p) ? 4 : 8);
}

// Max pool backward at input element i (dx_strides): the sum, over the windows that can cover it in
// (oh, ow) order, of dy where the window's argmax (indices, i_strides: the caller's or the first
// pass's) is this element.
template <typename I, typename J>
FASTCONV_HOST_DEVICE void max_pool2d_dgrad_at(const Pool2dParams& p, const ElementIndex<I>& ix,
                                              const float* __restrict__ dy, const J* __restrict__ indices, float* dx,
                                              I i, bool channels_last) {
  const index::Coord4Of<I> e = index::unravel(i, ix.walk, channels_last);
  const index::RangeOf<I> ph =
      index::covering_outputs(e.h, I(p.dilation_h * (p.kernel_h - 1) + 1), ix.stride_h, I(p.pad_h), I(p.P));
  const index::RangeOf<I> pw =
      index::covering_outputs(e.w, I(p.dilation_w * (p.kernel_w - 1) + 1), ix.stride_w, I(p.pad_w), I(p.Q));
  const J me = J(e.h * I(p.W) + e.w);
  const I ys2 = I(p.y_strides[2]), ys3 = I(p.y_strides[3]);
  const I is2 = I(p.i_strides[2]), is3 = I(p.i_strides[3]);
  const float* dyp = dy + (e.n * I(p.y_strides[0]) + e.c * I(p.y_strides[1]));
  const J* ip = indices + (e.n * I(p.i_strides[0]) + e.c * I(p.i_strides[1]));
  float acc = 0.0f;
  for (I oh = ph.lo; oh < ph.hi; ++oh)
    for (I ow = pw.lo; ow < pw.hi; ++ow)
      if (FASTCONV_LDG(ip + (oh * is2 + ow * is3)) == me) acc += FASTCONV_LDG(dyp + (oh * ys2 + ow * ys3));
  dx[index::offset4(p.dx_strides, e)] = acc;
}

// Average pool forward at output i: the taps inside the input summed in row-major order, divided
// once by torch's divisor (as the CPU path's generic loops).
template <typename I>
FASTCONV_HOST_DEVICE void avg_pool2d_fprop_at(const Pool2dParams& p, const ElementIndex<I>& ix,
                                              const float* __restrict__ x, float* y, I i, bool channels_last) {
  const index::Coord4Of<I> o = index::unravel(i, ix.walk, channels_last);
  const index::AvgSpanOf<I> sh = index::avg_window(o.h, I(p.kernel_h), I(p.stride_h), I(p.pad_h), I(p.H));
  const index::AvgSpanOf<I> sw = index::avg_window(o.w, I(p.kernel_w), I(p.stride_w), I(p.pad_w), I(p.W));
  const I xs2 = I(p.x_strides[2]), xs3 = I(p.x_strides[3]);
  const float* xp = x + (o.n * I(p.x_strides[0]) + o.c * I(p.x_strides[1]));
  float sum = 0.0f;
  for (I h = sh.lo; h < sh.hi; ++h)
    for (I w = sw.lo; w < sw.hi; ++w) sum += FASTCONV_LDG(xp + (h * xs2 + w * xs3));
  const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, I(p.divisor_override)));
  y[index::offset4(p.y_strides, o)] = sum / div;
}

// Average pool backward at input element i (x_strides describe dx): the sum over the windows
// containing it, in (oh, ow) order, of dy / divisor.
template <typename I>
FASTCONV_HOST_DEVICE void avg_pool2d_dgrad_at(const Pool2dParams& p, const ElementIndex<I>& ix,
                                              const float* __restrict__ dy, float* dx, I i, bool channels_last) {
  const index::Coord4Of<I> e = index::unravel(i, ix.walk, channels_last);
  const index::RangeOf<I> ph = index::covering_outputs(e.h, I(p.kernel_h), ix.stride_h, I(p.pad_h), I(p.P));
  const index::RangeOf<I> pw = index::covering_outputs(e.w, I(p.kernel_w), ix.stride_w, I(p.pad_w), I(p.Q));
  const I ys2 = I(p.y_strides[2]), ys3 = I(p.y_strides[3]);
  const float* dyp = dy + (e.n * I(p.y_strides[0]) + e.c * I(p.y_strides[1]));
  float acc = 0.0f;
  for (I oh = ph.lo; oh < ph.hi; ++oh) {
    const index::AvgSpanOf<I> sh = index::avg_window(oh, I(p.kernel_h), I(p.stride_h), I(p.pad_h), I(p.H));
    for (I ow = pw.lo; ow < pw.hi; ++ow) {
      const index::AvgSpanOf<I> sw = index::avg_window(ow, I(p.kernel_w), I(p.stride_w), I(p.pad_w), I(p.W));
      const float div = static_cast<float>(index::avg_divisor(sh, sw, p.count_include_pad, I(p.divisor_override)));
      acc += FASTCONV_LDG(dyp + (oh * ys2 + ow * ys3)) / div;
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
