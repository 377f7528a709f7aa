// Index arithmetic of pooling and depthwise convolution, shared by the CUDA kernels and the CPU
// extension (which exposes it to tests/test_gpu_index.py through _C._index_*):
//   - output extents (pool2d_output_size in pool.h, conv2d_output_size in conv.h);
//   - the taps of a window that land inside the input (max pool);
//   - a window clipped to the padded input and to the input, and its divisor (avg pool);
//   - the range of output windows that can cover an input element (every backward gather);
//   - the output position that a depthwise tap maps an input element to (depthwise dgrad);
//   - flat thread index -> (n, c, h, w) coordinates in planar or channels-last order.
// All arguments are assumed checked (stride, dilation, kernel >= 1; sizes >= 0).
#pragma once

#include <cstdint>

#include "fastconv/host_device.h"

namespace fastconv {
namespace index {

// a / b for a >= 0, b > 0. A GPU has no divide instruction: 64-bit division is a long software
// routine, 32-bit unsigned division a much shorter one, and every index here fits 32 bits in
// practice - so the narrow division runs whenever both operands fit, with the same result.
FASTCONV_HOST_DEVICE int64_t div_nonneg(int64_t a, int64_t b) {
  if (static_cast<uint64_t>(a) <= 0xffffffffu && static_cast<uint64_t>(b) <= 0xffffffffu)
    return static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b));
  return a / b;
}

// Floor and ceiling division for b > 0 and any sign of a.
FASTCONV_HOST_DEVICE int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? div_nonneg(a, b) : -div_nonneg(-a + b - 1, b);
}
FASTCONV_HOST_DEVICE int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }
FASTCONV_HOST_DEVICE int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
FASTCONV_HOST_DEVICE int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

struct Range {
  int64_t lo, hi;  // [lo, hi), hi >= lo
};

// Taps t in [lo, hi) of a window starting at `start` (k taps, step d) that land in [0, L). When no
// tap lands inside, hi == lo and start + lo * d is torch's "first tap moved inside" coordinate,
// which the max pool reports as the index of such a window (it is >= L then).
FASTCONV_HOST_DEVICE Range inside_taps(int64_t start, int64_t k, int64_t d, int64_t L) {
  Range r;
  r.lo = start >= 0 ? 0 : div_nonneg(-start + d - 1, d);
  r.hi = start >= L ? 0 : min64(k, div_nonneg(L - 1 - start, d) + 1);
  if (r.hi < r.lo) r.hi = r.lo;
  return r;
}

// One axis of an average-pool window (torch's CPU and CUDA rule): `size` is the window clipped to
// the padded input, [lo, hi) the part inside the input (hi may be < lo when none is).
struct AvgSpan {
  int64_t size, lo, hi;
};

FASTCONV_HOST_DEVICE AvgSpan avg_window(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t L) {
  const int64_t start = o * stride - pad;
  const int64_t end = min64(start + k, L + pad);
  AvgSpan s;
  s.size = end - start;
  s.lo = max64(start, 0);
  s.hi = min64(end, L);
  return s;
}

FASTCONV_HOST_DEVICE int64_t avg_divisor(const AvgSpan& h, const AvgSpan& w, bool count_include_pad,
                                         int64_t divisor_override) {
  if (divisor_override != 0) return divisor_override;
  if (count_include_pad) return h.size * w.size;
  return max64(h.hi - h.lo, 0) * max64(w.hi - w.lo, 0);
}

// Output positions o in [lo, hi) (clipped to [0, out)) whose window [o*stride - pad,
// o*stride - pad + extent) contains input position i. extent = dilation * (k - 1) + 1; with
// dilation > 1 this is a superset: a window in it may step over i.
FASTCONV_HOST_DEVICE Range covering_outputs(int64_t i, int64_t extent, int64_t stride, int64_t pad, int64_t out) {
  Range r;
  r.lo = max64(0, ceil_div(i + pad - extent + 1, stride));
  r.hi = min64(out, floor_div(i + pad, stride) + 1);
  if (r.hi < r.lo) r.hi = r.lo;
  return r;
}

// The output position o with o*stride - pad + tap == i, or -1 when there is none in [0, out):
// which output a depthwise tap at offset `tap` (r * dilation) maps input position i to.
FASTCONV_HOST_DEVICE int64_t tap_output(int64_t i, int64_t tap, int64_t stride, int64_t pad, int64_t out) {
  const int64_t t = i + pad - tap;
  if (t < 0) return -1;
  const int64_t o = div_nonneg(t, stride);
  return o * stride == t && o < out ? o : -1;
}

// Flat thread index -> logical (n, c, h, w) coordinates of an (N, C, H, W) tensor, walked with w
// fastest (planar layouts) or c fastest (channels-last), so that neighbouring threads touch
// neighbouring memory in either layout.
struct Coord4 {
  int64_t n, c, h, w;
};

// i >= 0 split into i / d (returned) and i % d (into rem).
FASTCONV_HOST_DEVICE int64_t divmod_nonneg(int64_t i, int64_t d, int64_t& rem) {
  const int64_t q = div_nonneg(i, d);
  rem = i - q * d;
  return q;
}

FASTCONV_HOST_DEVICE Coord4 unravel_nchw(int64_t i, int64_t C, int64_t H, int64_t W) {
  Coord4 q;
  i = divmod_nonneg(i, W, q.w);
  i = divmod_nonneg(i, H, q.h);
  q.n = divmod_nonneg(i, C, q.c);
  return q;
}

FASTCONV_HOST_DEVICE Coord4 unravel_nhwc(int64_t i, int64_t C, int64_t H, int64_t W) {
  Coord4 q;
  i = divmod_nonneg(i, C, q.c);
  i = divmod_nonneg(i, W, q.w);
  q.n = divmod_nonneg(i, H, q.h);
  return q;
}

FASTCONV_HOST_DEVICE int64_t offset4(const int64_t* strides, const Coord4& q) {
  return q.n * strides[0] + q.c * strides[1] + q.h * strides[2] + q.w * strides[3];
}

}  // namespace index
}  // namespace fastconv
