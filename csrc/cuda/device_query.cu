// Device discovery for cuda_available() and build_info().
#include <cuda_runtime.h>

#include <string>

#include "fastconv/cuda_info.h"

namespace fastconv {
namespace cuda {

int device_count() {
  int count = 0;
  // No driver or no device is a normal state of a CPU machine, not an error worth raising.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error state
    return 0;
  }
  return count;
}

std::string device_name(int index) {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return std::string();
  }
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
}

std::string runtime_version() {
  const int v = CUDART_VERSION;
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace cuda
}  // namespace fastconv
