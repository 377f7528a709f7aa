// Workspace arrays that a pass writes in full before it reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fastconv {
namespace cpu {

// Large blocks go back to a small process-wide cache instead of to the allocator: a workspace of a
// few hundred KB or more is otherwise unmapped when freed and faulted in page by page (zeroed by the
// kernel) on every call, 1-2 thousand page faults per call on the ResNet layers' backward passes.
void* scratch_acquire(size_t bytes);
void scratch_release(void* p, size_t bytes) noexcept;

template <typename T>
struct ScratchRelease {
  size_t bytes = 0;
  void operator()(T* p) const noexcept { scratch_release(p, bytes); }
};

template <typename T>
using Scratch = std::unique_ptr<T[], ScratchRelease<T>>;

// An array of n values left uninitialised, 64-byte aligned. std::vector<T>(n) would zero it first on
// the calling thread: for a channels-last copy of a whole tensor (6.4 MB for 8x64x56x56) that is a
// serial pass of 0.3-0.4 ms in front of every parallel region that then overwrites it.
template <typename T>
Scratch<T> scratch(int64_t n) {
  const size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * sizeof(T);
  return Scratch<T>(static_cast<T*>(scratch_acquire(bytes)), ScratchRelease<T>{bytes});
}

}  // namespace cpu
}  // namespace fastconv
