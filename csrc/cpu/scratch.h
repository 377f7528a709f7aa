// Workspace arrays that a pass writes in full before it reads them.
#pragma once

#include <cstdint>
#include <memory>

namespace fastconv {
namespace cpu {

// An array of n values left uninitialised. std::vector<T>(n) would zero it first on the calling
// thread: for a channels-last copy of a whole tensor (6.4 MB for 8x64x56x56) that is a serial pass
// of 0.3-0.4 ms in front of every parallel region that then overwrites it.
template <typename T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(n > 0 ? n : 0)]);
}

}  // namespace cpu
}  // namespace fastconv
