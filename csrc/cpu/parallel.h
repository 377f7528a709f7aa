// The project's CPU thread pool. Not OpenMP: libgomp hangs in processes forked after use, and a
// bundled OpenMP runtime oversubscribes cores next to torch or OpenBLAS.
#pragma once

#include <cstdint>
#include <functional>

namespace fastconv {

// Number of threads parallel_for uses (the calling thread included). Default: usable cores.
void set_num_threads(int n);
int get_num_threads();

// Runs fn(lo, hi) over disjoint chunks covering [begin, end), each at least `grain` long (except the
// last), on the pool; returns when all are done and rethrows the first exception. Nested calls and
// calls made while another Python thread holds the pool run inline on the calling thread.
// Kernels must not let results depend on how the range is chunked (determinism across thread counts).
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace fastconv
