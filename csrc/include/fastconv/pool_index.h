// Index arithmetic of pooling and depthwise convolution, shared by the CUDA kernels and the CPU
// extension (which exposes it to tests/test_gpu_index.py through _C._index_* and _C._index32_*):
//   - output extents (pool2d_output_size in pool.h, conv2d_output_size in conv.h);
//   - the taps of a window that land inside the input (max pool);
//   - a window clipped to the padded input and to the input, and its divisor (avg pool);
//   - the range of output windows that can cover an input element (every backward gather);
//   - the output position that a depthwise tap maps an input element to (depthwise dgrad);
//   - flat thread index -> (n, c, h, w) coordinates in planar or channels-last order.
// All arguments are assumed checked (stride, dilation, kernel >= 1; sizes >= 0).
//
// Each function exists for an integer type I: int64_t (any problem) and int32_t (problems whose
// every index fits, index32_fits in gpu_index_width.h). Divisions by a problem constant (stride,
// dilation, extents) take a Divider<I>, precomputed on the host: plain division for int64_t, a
// multiply-high and shift (conv_index::FastDivmod) for int32_t. Both give the exact quotient, so the
// two widths compute the same indices.
#pragma once

#include <cstdint>

#include "fastconv/conv_index.h"
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

// Division of a >= 0 by a fixed divisor d >= 1.
template <typename I>
struct Divider;

template <>
struct Divider<int64_t> {
  int64_t d = 1;
  Divider() = default;
  FASTCONV_HOST_DEVICE explicit Divider(int64_t divisor) : d(divisor) {}
  FASTCONV_HOST_DEVICE int64_t divisor() const { return d; }
  FASTCONV_HOST_DEVICE int64_t div(int64_t a) const { return div_nonneg(a, d); }
};

// Exact for a in [0, 2^31) and d in [1, 2^31) (FastDivmod's range).
template <>
struct Divider<int32_t> {
  conv_index::FastDivmod f;
  Divider() = default;
  FASTCONV_HOST_DEVICE explicit Divider(int64_t divisor) : f(static_cast<int32_t>(divisor)) {}
  FASTCONV_HOST_DEVICE int32_t divisor() const { return f.divisor; }
  FASTCONV_HOST_DEVICE int32_t div(int32_t a) const { return f.div(a); }
};

template <typename I>
FASTCONV_HOST_DEVICE I imin(I a, I b) {
  return a < b ? a : b;
}
template <typename I>
FASTCONV_HOST_DEVICE I imax(I a, I b) {
  return a > b ? a : b;
}
FASTCONV_HOST_DEVICE int64_t min64(int64_t a, int64_t b) { return imin(a, b); }
FASTCONV_HOST_DEVICE int64_t max64(int64_t a, int64_t b) { return imax(a, b); }

// Floor and ceiling division for b > 0 and any sign of a.
template <typename I>
FASTCONV_HOST_DEVICE I floor_div(I a, const Divider<I>& b) {
  return a >= 0 ? b.div(a) : -b.div(-a + b.divisor() - 1);
}
template <typename I>
FASTCONV_HOST_DEVICE I ceil_div(I a, const Divider<I>& b) {
  return -floor_div(-a, b);
}
FASTCONV_HOST_DEVICE int64_t floor_div(int64_t a, int64_t b) { return floor_div(a, Divider<int64_t>(b)); }
FASTCONV_HOST_DEVICE int64_t ceil_div(int64_t a, int64_t b) { return ceil_div(a, Divider<int64_t>(b)); }

template <typename I>
struct RangeOf {
  I lo, hi;  // [lo, hi), hi >= lo
};
using Range = RangeOf<int64_t>;

// Taps t in [lo, hi) of a window starting at `start` (k taps, step d) that land in [0, L). When no
// tap lands inside, hi == lo and start + lo * d is torch's "first tap moved inside" coordinate,
// which the max pool reports as the index of such a window (it is >= L then).
template <typename I>
FASTCONV_HOST_DEVICE RangeOf<I> inside_taps(I start, I k, const Divider<I>& d, I L) {
  RangeOf<I> r;
  r.lo = start >= 0 ? 0 : d.div(-start + d.divisor() - 1);
  r.hi = start >= L ? 0 : imin(k, d.div(L - 1 - start) + 1);
  if (r.hi < r.lo) r.hi = r.lo;
  return r;
}
FASTCONV_HOST_DEVICE Range inside_taps(int64_t start, int64_t k, int64_t d, int64_t L) {
  return inside_taps(start, k, Divider<int64_t>(d), L);
}

// One axis of an average-pool window (torch's CPU and CUDA rule): `size` is the window clipped to
// the padded input, [lo, hi) the part inside the input (hi may be < lo when none is).
template <typename I>
struct AvgSpanOf {
  I size, lo, hi;
};
using AvgSpan = AvgSpanOf<int64_t>;

template <typename I>
FASTCONV_HOST_DEVICE AvgSpanOf<I> avg_window(I o, I k, I stride, I pad, I L) {
  const I start = o * stride - pad;
  const I end = imin(start + k, L + pad);
  AvgSpanOf<I> s;
  s.size = end - start;
  s.lo = imax(start, I(0));
  s.hi = imin(end, L);
  return s;
}

template <typename I>
FASTCONV_HOST_DEVICE I avg_divisor(const AvgSpanOf<I>& h, const AvgSpanOf<I>& w, bool count_include_pad,
                                   I divisor_override) {
  if (divisor_override != 0) return divisor_override;
  if (count_include_pad) return h.size * w.size;
  return imax(h.hi - h.lo, I(0)) * imax(w.hi - w.lo, I(0));
}

// Output positions o in [lo, hi) (clipped to [0, out)) whose window [o*stride - pad,
// o*stride - pad + extent) contains input position i. extent = dilation * (k - 1) + 1; with
// dilation > 1 this is a superset: a window in it may step over i.
template <typename I>
FASTCONV_HOST_DEVICE RangeOf<I> covering_outputs(I i, I extent, const Divider<I>& stride, I pad, I out) {
  RangeOf<I> r;
  r.lo = imax(I(0), ceil_div(i + pad - extent + 1, stride));
  r.hi = imin(out, floor_div(i + pad, stride) + 1);
  if (r.hi < r.lo) r.hi = r.lo;
  return r;
}
FASTCONV_HOST_DEVICE Range covering_outputs(int64_t i, int64_t extent, int64_t stride, int64_t pad, int64_t out) {
  return covering_outputs(i, extent, Divider<int64_t>(stride), pad, out);
}

// The output position o with o*stride - pad + tap == i, or -1 when there is none in [0, out):
// which output a depthwise tap at offset `tap` (r * dilation) maps input position i to.
template <typename I>
FASTCONV_HOST_DEVICE I tap_output(I i, I tap, const Divider<I>& stride, I pad, I out) {
  const I t = i + pad - tap;
  if (t < 0) return -1;
  const I o = stride.div(t);
  return o * stride.divisor() == t && o < out ? o : -1;
}
FASTCONV_HOST_DEVICE int64_t tap_output(int64_t i, int64_t tap, int64_t stride, int64_t pad, int64_t out) {
  return tap_output(i, tap, Divider<int64_t>(stride), pad, out);
}

// Flat thread index -> logical (n, c, h, w) coordinates of an (N, C, H, W) tensor, walked with w
// fastest (planar layouts) or c fastest (channels-last), so that neighbouring threads touch
// neighbouring memory in either layout.
template <typename I>
struct Coord4Of {
  I n, c, h, w;
};
using Coord4 = Coord4Of<int64_t>;

// i >= 0 split into i / d (returned) and i % d (into rem).
template <typename I>
FASTCONV_HOST_DEVICE I divmod_nonneg(I i, const Divider<I>& d, I& rem) {
  const I q = d.div(i);
  rem = i - q * d.divisor();
  return q;
}
FASTCONV_HOST_DEVICE int64_t divmod_nonneg(int64_t i, int64_t d, int64_t& rem) {
  return divmod_nonneg(i, Divider<int64_t>(d), rem);
}

// The extents of a walked (N, C, H, W) tensor as divisors, fastest first: (W, H, C) planar,
// (C, W, H) channels-last.
template <typename I>
struct Walk {
  Divider<I> d0, d1, d2;
};

template <typename I>
FASTCONV_HOST_DEVICE Walk<I> make_walk(int64_t C, int64_t H, int64_t W, bool channels_last) {
  Walk<I> k;
  k.d0 = Divider<I>(channels_last ? C : W);
  k.d1 = Divider<I>(channels_last ? W : H);
  k.d2 = Divider<I>(channels_last ? H : C);
  return k;
}

template <typename I>
FASTCONV_HOST_DEVICE Coord4Of<I> unravel(I i, const Walk<I>& k, bool channels_last) {
  Coord4Of<I> q;
  if (channels_last) {
    i = divmod_nonneg(i, k.d0, q.c);
    i = divmod_nonneg(i, k.d1, q.w);
    q.n = divmod_nonneg(i, k.d2, q.h);
  } else {
    i = divmod_nonneg(i, k.d0, q.w);
    i = divmod_nonneg(i, k.d1, q.h);
    q.n = divmod_nonneg(i, k.d2, q.c);
  }
  return q;
}

FASTCONV_HOST_DEVICE Coord4 unravel_nchw(int64_t i, int64_t C, int64_t H, int64_t W) {
  return unravel(i, make_walk<int64_t>(C, H, W, false), false);
}

FASTCONV_HOST_DEVICE Coord4 unravel_nhwc(int64_t i, int64_t C, int64_t H, int64_t W) {
  return unravel(i, make_walk<int64_t>(C, H, W, true), true);
}

template <typename I>
FASTCONV_HOST_DEVICE I offset4(const int64_t* strides, const Coord4Of<I>& q) {
  return q.n * I(strides[0]) + q.c * I(strides[1]) + q.h * I(strides[2]) + q.w * I(strides[3]);
}

}  // namespace index
}  // namespace fastconv
