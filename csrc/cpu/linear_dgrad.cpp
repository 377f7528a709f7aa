// linear input gradient: dx = dy w.   dy: (N, out)   w: (out, in)   dx: (N, in)
#include "fastconv/nn.h"
#include "linear_gemm.h"

namespace fastconv {

template <typename T>
void linear_dgrad(const LinearParams& p, MatrixView<T> dy, MatrixView<T> w, T* dx, int64_t ldx) {
  check_linear_params(p);
  cpu::linear_gemm<T>(p.N, p.out, p.in, dy, w, dx, ldx);
}

template void linear_dgrad<float>(const LinearParams&, MatrixView<float>, MatrixView<float>, float*, int64_t);
template void linear_dgrad<double>(const LinearParams&, MatrixView<double>, MatrixView<double>, double*, int64_t);

}  // namespace fastconv
