// What every CUDA binding shares: device arrays as (pointer, shape, element strides) tuples from
// the Python layer (python/fastconv/_gpu_arrays.py), the stream as an integer handle, and a guard
// that makes the array's device current for the launch. Included only with FASTCONV_WITH_CUDA.
#pragma once

#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>

namespace fastconv {
namespace bindings {

namespace py = pybind11;

// (data pointer, logical shape, strides in elements) of a 4-D device array.
using DevArray4 = std::tuple<uintptr_t, std::array<int64_t, 4>, std::array<int64_t, 4>>;
// (data pointer, length, stride in elements) of a 1-D device array.
using DevArray1 = std::tuple<uintptr_t, int64_t, int64_t>;

inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

template <typename T>
inline T* dev_ptr(const DevArray4& a) {
  return reinterpret_cast<T*>(std::get<0>(a));
}

inline void copy_strides(const DevArray4& a, int64_t out[4]) {
  for (int i = 0; i < 4; ++i) out[i] = std::get<2>(a)[i];
}

inline std::string shape_str(const std::array<int64_t, 4>& s) {
  return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + ", " +
         std::to_string(s[3]) + ")";
}

inline void require_shape(const char* op, const DevArray4& a, const char* name, const std::array<int64_t, 4>& want) {
  if (std::get<1>(a) != want)
    throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_str(std::get<1>(a)) + ", expected " +
                          shape_str(want));
}

inline cudaStream_t as_stream(uintptr_t handle) { return reinterpret_cast<cudaStream_t>(handle); }

// Makes `device` current for the launch and restores the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    cuda_check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) cuda_check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace bindings
}  // namespace fastconv
