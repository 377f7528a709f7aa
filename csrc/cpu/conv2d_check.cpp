// Consistency checks of a Conv2dParams before any kernel touches memory.
#include <stdexcept>
#include <string>

#include "fastconv/conv.h"

namespace fastconv {

void check_conv2d_params(const Conv2dParams& p) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("conv2d: " + what); };
  if (p.N < 0 || p.C < 0 || p.H < 0 || p.W < 0 || p.K < 0 || p.R < 1 || p.S < 1 || p.P < 0 || p.Q < 0)
    fail("sizes must be non-negative and the kernel at least 1x1");
  if (p.groups < 1) fail("groups must be >= 1");
  if (p.C % p.groups != 0 || p.K % p.groups != 0) fail("groups must divide input and output channels");
  if (p.stride_h < 1 || p.stride_w < 1) fail("stride must be >= 1");
  if (p.dilation_h < 1 || p.dilation_w < 1) fail("dilation must be >= 1");
  if (p.pad_h < 0 || p.pad_w < 0) fail("padding must be >= 0");
  // The output may not reach further than the leading pad plus the input plus a trailing pad no
  // larger than the kernel's span: beyond that a window would see only padding, which no caller
  // asks for; it also bounds the index arithmetic.
  const int64_t span_h = p.dilation_h * (p.R - 1) + 1, span_w = p.dilation_w * (p.S - 1) + 1;
  if (p.P > 0 && (p.P - 1) * p.stride_h > p.H + p.pad_h + span_h) fail("output height inconsistent with input");
  if (p.Q > 0 && (p.Q - 1) * p.stride_w > p.W + p.pad_w + span_w) fail("output width inconsistent with input");
}

}  // namespace fastconv
