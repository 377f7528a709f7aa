// Adding a per-channel bias in place: y[n, k, ...] += b[k]. Used where an output is produced by a
// kernel without a bias epilogue (transposed convolutions run conv dgrad).
#pragma once

#include <cstdint>

namespace fastconv {

struct BiasAddParams {
  int64_t N = 0, K = 0, D = 1, H = 1, W = 1;       // y: (N, K, D, H, W); fewer spatial axes have extent 1
  int64_t y_strides[5] = {0, 0, 0, 0, 0};
  int64_t b_stride = 1;
};

template <typename T>
void bias_add(const BiasAddParams& p, const T* b, T* y);

}  // namespace fastconv
