// Consistency checks of a Conv3dParams before any kernel touches memory.
#include <stdexcept>
#include <string>

#include "fastconv/conv3d.h"

namespace fastconv {

void check_conv3d_params(const Conv3dParams& p) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("conv3d: " + what); };
  if (p.N < 0 || p.C < 0 || p.D < 0 || p.H < 0 || p.W < 0 || p.K < 0 || p.T < 1 || p.R < 1 || p.S < 1 || p.Z < 0 ||
      p.P < 0 || p.Q < 0)
    fail("sizes must be non-negative and the kernel at least 1x1x1");
  if (p.groups < 1) fail("groups must be >= 1");
  if (p.C % p.groups != 0 || p.K % p.groups != 0) fail("groups must divide input and output channels");
  for (int a = 0; a < 3; ++a) {
    if (p.stride[a] < 1) fail("stride must be >= 1");
    if (p.dilation[a] < 1) fail("dilation must be >= 1");
    if (p.pad[a] < 0) fail("padding must be >= 0");
  }
}

}  // namespace fastconv
