// check_pool2d_params: the last line of defence before a pooling kernel. Python has already checked
// everything with friendlier messages; this refuses what would make a kernel index out of range or
// overflow int64 arithmetic (flat indices h * W + w, window starts p * stride - pad).
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastconv/pool.h"

namespace fastconv {

namespace {

// Kernel, stride, padding and dilation fit an int, as torch requires; sizes stay far below 2^63 so
// that window arithmetic (start + kernel, start + tap * dilation) cannot overflow.
constexpr int64_t kMaxParam = 2147483647;
constexpr int64_t kMaxExtent = int64_t(1) << 60;
constexpr int64_t kMaxCoordinate = int64_t(1) << 61;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("pool2d: " + what); }

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

void check_positive(const char* name, int64_t h, int64_t w) {
  if (h < 1 || w < 1 || h > kMaxParam || w > kMaxParam)
    fail(std::string(name) + " must be in [1, 2147483647], got " + pair_str(h, w));
}

// One past the largest coordinate a window start, or torch's "first tap moved inside" default index
// of a window with no tap inside, can take on one axis: (out - 1) * stride + dilation.
int64_t coordinate_bound(int64_t out, int64_t stride, int64_t dilation, const char* axis) {
  int64_t b = 0;
  if (__builtin_mul_overflow(out > 0 ? out - 1 : 0, stride, &b) || __builtin_add_overflow(b, dilation + 1, &b) ||
      b > kMaxCoordinate)
    fail(std::string("output ") + axis + " extent times stride is too large");
  return b;
}

}  // namespace

void check_pool2d_params(const Pool2dParams& p) {
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.P < 0 || p.Q < 0)
    fail("sizes must be non-negative, got N=" + std::to_string(p.N) + " C=" + std::to_string(p.C) +
         " H=" + std::to_string(p.H) + " W=" + std::to_string(p.W) + " P=" + std::to_string(p.P) +
         " Q=" + std::to_string(p.Q));
  if (p.H > kMaxExtent || p.W > kMaxExtent || p.P > kMaxExtent || p.Q > kMaxExtent)
    fail("spatial sizes are too large");
  check_positive("kernel_size", p.kernel_h, p.kernel_w);
  check_positive("stride", p.stride_h, p.stride_w);
  check_positive("dilation", p.dilation_h, p.dilation_w);
  if (p.pad_h < 0 || p.pad_w < 0) fail("padding must be non-negative, got " + pair_str(p.pad_h, p.pad_w));
  if (p.pad_h > p.kernel_h / 2 || p.pad_w > p.kernel_w / 2)
    fail("padding " + pair_str(p.pad_h, p.pad_w) + " must be at most half of kernel_size " +
         pair_str(p.kernel_h, p.kernel_w));
  // ceil_mode is not stored: the output extents must be those of one of the two modes (per axis,
  // since they coincide on an axis where the division is exact).
  const auto valid_extent = [](int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad, int64_t d) {
    return out == pool2d_output_size(in, k, s, pad, d, false) || out == pool2d_output_size(in, k, s, pad, d, true);
  };
  if (!valid_extent(p.H, p.P, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h) ||
      !valid_extent(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w))
    fail("output size " + pair_str(p.P, p.Q) + " does not match input " + pair_str(p.H, p.W) + " with kernel_size " +
         pair_str(p.kernel_h, p.kernel_w) + ", stride " + pair_str(p.stride_h, p.stride_w) + ", padding " +
         pair_str(p.pad_h, p.pad_w) + ", dilation " + pair_str(p.dilation_h, p.dilation_w));
  // Flat plane indices, including the default index of a window without any tap inside, fit int64.
  const int64_t bh = coordinate_bound(p.P, p.stride_h, p.dilation_h, "height");
  const int64_t bw = coordinate_bound(p.Q, p.stride_w, p.dilation_w, "width");
  int64_t flat = 0;
  if (__builtin_mul_overflow(bh > p.H ? bh : p.H, p.W, &flat) || __builtin_add_overflow(flat, bw, &flat))
    fail("flat indices h * W + w would overflow int64 for input " + pair_str(p.H, p.W));
}

}  // namespace fastconv
