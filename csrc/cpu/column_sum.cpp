// Bias gradient of linear and of the fused bias + activation: db[c] = sum_r dy(r, c).
// Each column is summed over r = 0, 1, ... in order whatever the column split between threads.
#include <algorithm>
#include <vector>

#include "fastconv/nn.h"
#include "parallel.h"

namespace fastconv {

template <typename T>
void column_sum(int64_t rows, int64_t cols, MatrixView<T> dy, T* db) {
  constexpr int64_t kCols = 256;  // columns per work item: a row of partial sums stays in L1
  const int64_t blocks = (cols + kCols - 1) / kCols;
  const int64_t grain = rows * cols < (1 << 16) ? std::max<int64_t>(blocks, 1) : 1;
  parallel_for(0, blocks, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; ++blk) {
      const int64_t c0 = blk * kCols, c1 = std::min(cols, c0 + kCols);
      T acc[kCols] = {};
      for (int64_t r = 0; r < rows; ++r) {
        if (dy.cs == 1) {
          const T* row = dy.data + r * dy.rs;
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
        } else {
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += dy(r, c);
        }
      }
      std::copy(acc, acc + (c1 - c0), db + c0);
    }
  });
}

template void column_sum<float>(int64_t, int64_t, MatrixView<float>, float*);
template void column_sum<double>(int64_t, int64_t, MatrixView<double>, double*);

}  // namespace fastconv
