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
}

}  // namespace fastconv
