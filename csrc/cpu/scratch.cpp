// The cache behind scratch(): a few large blocks kept for reuse (see scratch.h).
#include "scratch.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace fastconv {
namespace cpu {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinCached = size_t(64) << 10;  // smaller blocks: the allocator's own free lists
constexpr size_t kMaxBlocks = 16;
constexpr size_t kMaxBytes = size_t(128) << 20;  // held at most, all blocks together

struct Block {
  void* p;
  size_t bytes;
};

struct Cache {
  std::mutex mutex;
  std::vector<Block> blocks;
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = [] {
    // A fork child inherits the blocks but maybe a locked mutex: give it a fresh one.
    pthread_atfork(nullptr, nullptr, [] { new (&cache().mutex) std::mutex(); });
    auto* fresh = new Cache();
    fresh->blocks.reserve(kMaxBlocks);
    return fresh;
  }();
  return *c;
}

size_t rounded(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

void* scratch_acquire(size_t bytes) {
  bytes = rounded(bytes);
  if (bytes >= kMinCached) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    // The smallest cached block that fits, if it is not more than twice the request.
    size_t best = c.blocks.size();
    for (size_t i = 0; i < c.blocks.size(); ++i)
      if (c.blocks[i].bytes >= bytes && c.blocks[i].bytes <= 2 * bytes &&
          (best == c.blocks.size() || c.blocks[i].bytes < c.blocks[best].bytes))
        best = i;
    if (best < c.blocks.size()) {
      void* p = c.blocks[best].p;
      c.bytes -= c.blocks[best].bytes;
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(best));
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void scratch_release(void* p, size_t bytes) noexcept {
  if (!p) return;
  bytes = rounded(bytes);
  if (bytes < kMinCached || bytes > kMaxBytes) {
    std::free(p);
    return;
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  // Oldest blocks leave first when the cache is full.
  while (!c.blocks.empty() && (c.blocks.size() >= kMaxBlocks || c.bytes + bytes > kMaxBytes)) {
    std::free(c.blocks.front().p);
    c.bytes -= c.blocks.front().bytes;
    c.blocks.erase(c.blocks.begin());
  }
  c.blocks.push_back({p, bytes});  // no reallocation: capacity reserved for kMaxBlocks
  c.bytes += bytes;
}

}  // namespace cpu
}  // namespace fastconv
