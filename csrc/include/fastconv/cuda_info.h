// What the CUDA backend reports about the machine. Compiled only with FASTCONV_WITH_CUDA.
#pragma once

#include <string>

namespace fastconv {
namespace cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device (never throws).
int device_count();
// "name (sm_XY)" of device `index`, or an empty string when it cannot be queried.
std::string device_name(int index);
// Version of the CUDA runtime compiled in, as "major.minor".
std::string runtime_version();

}  // namespace cuda
}  // namespace fastconv
