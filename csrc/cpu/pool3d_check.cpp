// check_pool3d_params / check_adaptive_pool3d_params: the last line of defence before a 3-D pooling
// kernel. Python has already checked everything with friendlier messages.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastconv/pool.h"
#include "fastconv/pool3d.h"

namespace fastconv {

namespace {

constexpr int64_t kMaxParam = 2147483647;
constexpr int64_t kMaxExtent = int64_t(1) << 40;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("pool3d: " + what); }

void check_sizes(const Pool3dParams& p) {
  if (p.N < 0 || p.C < 0 || p.D < 0 || p.H < 0 || p.W < 0 || p.Z < 0 || p.P < 0 || p.Q < 0)
    fail("sizes must be non-negative");
  const int64_t extents[] = {p.D, p.H, p.W, p.Z, p.P, p.Q};
  for (int64_t e : extents)
    if (e > kMaxExtent) fail("spatial sizes are too large");
  // Flat indices d * H * W + h * W + w (and window arithmetic) stay far below 2^63.
  int64_t vol = 0;
  if (__builtin_mul_overflow(p.D + 1, p.H + 1, &vol) || __builtin_mul_overflow(vol, p.W + 1, &vol) ||
      vol > (int64_t(1) << 60))
    fail("input volume is too large for int64 flat indices");
}

}  // namespace

void check_pool3d_params(const Pool3dParams& p) {
  check_sizes(p);
  const int64_t in[3] = {p.D, p.H, p.W};
  const int64_t out[3] = {p.Z, p.P, p.Q};
  for (int a = 0; a < 3; ++a) {
    if (p.kernel[a] < 1 || p.kernel[a] > kMaxParam || p.stride[a] < 1 || p.stride[a] > kMaxParam ||
        p.dilation[a] < 1 || p.dilation[a] > kMaxParam)
      fail("kernel_size, stride and dilation must be in [1, 2147483647]");
    if (p.pad[a] < 0 || p.pad[a] > p.kernel[a] / 2) fail("padding must be in [0, kernel_size / 2]");
    const bool ok = out[a] == pool2d_output_size(in[a], p.kernel[a], p.stride[a], p.pad[a], p.dilation[a], false) ||
                    out[a] == pool2d_output_size(in[a], p.kernel[a], p.stride[a], p.pad[a], p.dilation[a], true);
    if (!ok) fail("output size on axis " + std::to_string(a) + " (" + std::to_string(out[a]) + ") does not match the input");
  }
}

void check_adaptive_pool3d_params(const Pool3dParams& p) {
  check_sizes(p);
  if (p.N * p.C > 0 && (p.D < 1 || p.H < 1 || p.W < 1)) fail("adaptive pooling needs nonzero input extents");
}

}  // namespace fastconv
