// linear weight gradient: dw = dy^T x, summed over the batch in order.
//   dy: (N, out)   x: (N, in)   dw: (out, in)
#include "fastconv/nn.h"
#include "linear_gemm.h"

namespace fastconv {

template <typename T>
void linear_wgrad(const LinearParams& p, MatrixView<T> dy, MatrixView<T> x, T* dw, int64_t ldw) {
  check_linear_params(p);
  const MatrixView<T> dyt{dy.data, dy.cs, dy.rs};
  cpu::linear_gemm<T>(p.out, p.N, p.in, dyt, x, dw, ldw);
}

template void linear_wgrad<float>(const LinearParams&, MatrixView<float>, MatrixView<float>, float*, int64_t);
template void linear_wgrad<double>(const LinearParams&, MatrixView<double>, MatrixView<double>, double*, int64_t);

}  // namespace fastconv
