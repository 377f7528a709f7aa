// The element kernels' choice of index width (csrc/cuda/pool2d_*.cu, conv2d_*_depthwise.cu): 32-bit
// indices with precomputed divisors whenever every index of the problem fits, else 64-bit. A GPU
// runs 32-bit integer arithmetic natively and 64-bit multiplies as several instructions, and these
// kernels spend more time on index arithmetic than on memory. Host code, no CUDA dependency: the
// CPU extension's emulation of the kernels makes the same choice.
#pragma once

#include <atomic>
#include <cstdint>

#include "fastconv/conv.h"
#include "fastconv/pool.h"

namespace fastconv {
namespace gpu_elements {

// Bound on every element count, memory offset (in elements), coordinate span and flat plane index
// of a problem on the 32-bit path: the kernels add at most a few of them, which stays below 2^31.
constexpr int64_t kIndex32Limit = int64_t(1) << 29;

// 0: each kernel takes the 32-bit path when the problem fits; 64: always the 64-bit path. A private
// switch for tests, which compare the two paths (_C._set_gpu_index_bits).
inline std::atomic<int>& index_bits_override() {
  static std::atomic<int> bits{0};
  return bits;
}

namespace index32 {

inline bool within(int64_t v) { return v >= -kIndex32Limit && v <= kIndex32Limit; }

// a * b within the bound, for a, b >= 0 (checked before multiplying, so nothing overflows).
inline bool product_within(int64_t a, int64_t b) { return within(a) && within(b) && within(a * b); }

inline bool count_within(int64_t n, int64_t c, int64_t h, int64_t w) {
  return product_within(n, c) && product_within(n * c, h) && product_within(n * c * h, w);
}

// The largest |offset| of an element of a tensor with these extents and strides.
inline bool offsets_within(const int64_t* strides, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t extents[4] = {n, c, h, w};
  int64_t sum = 0;
  for (int i = 0; i < 4; ++i) {
    const int64_t s = strides[i] < 0 ? -strides[i] : strides[i];
    if (extents[i] <= 0) continue;
    if (!product_within(s, extents[i] - 1)) return false;
    sum += s * (extents[i] - 1);
  }
  return within(sum);
}

// One spatial axis: every coordinate a kernel forms (window starts, taps, covering ranges) lies
// within +-span; flat plane indices h * W + w within +-(span_h + 1) * (span_w + 1).
inline int64_t axis_span(int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t dilation, int64_t k) {
  if (!within(in) || !within(pad) || !product_within(out, stride) || !product_within(dilation, k))
    return kIndex32Limit + 1;
  return in + out * stride + 2 * pad + dilation * k;
}

inline bool spans_within(int64_t span_h, int64_t span_w) {
  return within(span_h) && within(span_w) && product_within(span_h + 1, span_w + 1);
}

}  // namespace index32

// Whether every index of a pooling problem fits the 32-bit path.
inline bool index32_fits(const Pool2dParams& p) {
  using namespace index32;
  return count_within(p.N, p.C, p.H, p.W) && count_within(p.N, p.C, p.P, p.Q) &&
         offsets_within(p.x_strides, p.N, p.C, p.H, p.W) && offsets_within(p.dx_strides, p.N, p.C, p.H, p.W) &&
         offsets_within(p.y_strides, p.N, p.C, p.P, p.Q) && offsets_within(p.i_strides, p.N, p.C, p.P, p.Q) &&
         spans_within(axis_span(p.H, p.P, p.stride_h, p.pad_h, p.dilation_h, p.kernel_h),
                      axis_span(p.W, p.Q, p.stride_w, p.pad_w, p.dilation_w, p.kernel_w)) &&
         product_within(p.kernel_h, p.kernel_w) && within(p.divisor_override);
}

// Whether every index of a depthwise convolution fits the 32-bit path.
inline bool index32_fits(const Conv2dParams& p) {
  using namespace index32;
  const int64_t b_stride = p.b_stride < 0 ? -p.b_stride : p.b_stride;
  return count_within(p.N, p.C, p.H, p.W) && count_within(p.N, p.K, p.P, p.Q) && count_within(p.K, 1, p.R, p.S) &&
         offsets_within(p.x_strides, p.N, p.C, p.H, p.W) && offsets_within(p.y_strides, p.N, p.K, p.P, p.Q) &&
         offsets_within(p.w_strides, p.K, 1, p.R, p.S) && product_within(b_stride, p.K) &&
         spans_within(axis_span(p.H, p.P, p.stride_h, p.pad_h, p.dilation_h, p.R),
                      axis_span(p.W, p.Q, p.stride_w, p.pad_w, p.dilation_w, p.S));
}

template <typename Params>
bool use_index32(const Params& p) {
  return index_bits_override().load() != 64 && index32_fits(p);
}

}  // namespace gpu_elements
}  // namespace fastconv
