// linear forward: y = x w^T + b.   x: (N, in)   w: (out, in)   b: (out,)   y: (N, out)
// y = x @ B with B(j, o) = w(o, j): a weight stored as (in, out) (Keras's kernel, w.T) has
// contiguous B rows and is read in place.
#include <stdexcept>
#include <string>

#include "fastconv/nn.h"
#include "linear_gemm.h"
#include "parallel.h"

namespace fastconv {

void check_linear_params(const LinearParams& p) {
  if (p.N < 0 || p.in < 0 || p.out < 0)
    throw std::invalid_argument("linear: negative size (N=" + std::to_string(p.N) + ", in=" + std::to_string(p.in) +
                                ", out=" + std::to_string(p.out) + ")");
}

template <typename T>
void linear_fprop(const LinearParams& p, MatrixView<T> x, MatrixView<T> w, const T* b, T* y, int64_t ldy) {
  check_linear_params(p);
  const MatrixView<T> wt{w.data, w.cs, w.rs};
  cpu::linear_gemm<T>(p.N, p.in, p.out, x, wt, y, ldy);
  if (!b || p.N == 0 || p.out == 0) return;
  const int64_t grain = p.N * p.out < (1 << 16) ? p.N : 1;
  parallel_for(0, p.N, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t o = 0; o < p.out; ++o) y[n * ldy + o] += b[o];
  });
}

template void linear_fprop<float>(const LinearParams&, MatrixView<float>, MatrixView<float>, const float*, float*,
                                  int64_t);
template void linear_fprop<double>(const LinearParams&, MatrixView<double>, MatrixView<double>, const double*,
                                   double*, int64_t);

}  // namespace fastconv
