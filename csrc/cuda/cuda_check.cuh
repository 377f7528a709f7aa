// Error handling and launch geometry shared by the CUDA kernels.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

// Throws std::runtime_error naming the call, file and line when a CUDA runtime call fails. Launches
// are checked with FASTCONV_CUDA_CHECK(cudaGetLastError()) right after the <<<>>>, which reports
// bad launch configurations; faults inside a kernel surface at the caller's next synchronisation.
#define FASTCONV_CUDA_CHECK(expr)                                                                         \
  do {                                                                                                    \
    const cudaError_t fastconv_err_ = (expr);                                                             \
    if (fastconv_err_ != cudaSuccess)                                                                     \
      throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(fastconv_err_) + " in " + \
                               #expr + " at " + __FILE__ + ":" + std::to_string(__LINE__));               \
  } while (0)

namespace fastconv {
namespace cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `total` items: enough to fill any current GPU many times over,
// few enough that the grid's x extent is always valid.
inline unsigned grid_for(int64_t total, int threads = kThreads) {
  const int64_t blocks = (total + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(1) << 20)));
}

}  // namespace cuda
}  // namespace fastconv
