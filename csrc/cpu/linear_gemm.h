// The matrix product behind linear's three passes, on the tile GEMM microkernels (ukernels/gemm.h):
//
//   C[m * ldc + n] = sum_j A(m, j) * B(j, n)     A: (M, J), B: (J, Nc) any strides
//
// A is packed into 6-row panels; B is read in place where its rows are contiguous and the
// 64-column tile is whole, else packed. Each element is summed over j = 0, 1, ... in order, so the
// result does not depend on the thread count or the blocking. J == 0 gives zeros.
#pragma once

#include <cstdint>

#include "fastconv/nn.h"

namespace fastconv {
namespace cpu {

template <typename T>
void linear_gemm(int64_t M, int64_t J, int64_t Nc, MatrixView<T> A, MatrixView<T> B, T* C, int64_t ldc);

}  // namespace cpu
}  // namespace fastconv
