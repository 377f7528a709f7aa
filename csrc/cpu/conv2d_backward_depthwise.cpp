// conv2d backward, depthwise 3x3 with unit strides and dilations on planes (NCHW and other layouts
// whose rows are unit-stride), one filter per channel: dx, dw and db from one pass over dy.
//   dy: (N, C, P, Q)   x, dx: (N, C, H, W)   w, dw: (C, 1, 3, 3)   db: (C,)
// Task = one (n, c) plane: dx's plane from dy's (the flipped filter run forward, the kernel and sum
// order of conv2d_dgrad_depthwise), then the 9 weight sums and the bias sum from the same dy plane,
// still in cache, and x's plane. Separate passes would stream dy from memory three times. Each
// plane's sums have their own slot; dw[c] and db[c] add the planes n = 0, 1, ... in order, so the
// results are the same bits for any thread count and every run.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_depthwise.h"
#include "parallel.h"
#include "ukernels/dwconv.h"

namespace fastconv {

using namespace cpu::depthwise;

template <typename T>
bool conv2d_backward_depthwise_applies(const Conv2dParams& p, const int64_t* dx_strides) {
  return conv2d_is_depthwise(p) && p.K == p.C && !use_channels_path<T>(p) &&
         planes_3x3_direct(p, p.x_strides, p.y_strides) && (dx_strides == nullptr || dx_strides[3] == 1) &&
         p.N > 0 && p.P > 0 && p.Q > 0 && p.H > 0 && p.W > 0;
}

template <typename T>
void conv2d_backward_depthwise(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                               const int64_t* dx_strides, T* dw, const int64_t* dw_strides, T* db) {
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides, *dxs = dx_strides;
  const int64_t dx_off[3] = {p.pad_w - 2, p.pad_w - 1, p.pad_w};  // flipped taps: dgrad_planes_3x3
  const int64_t x_off[3] = {-p.pad_w, 1 - p.pad_w, 2 - p.pad_w};
  const bool sums = dw != nullptr || db != nullptr;
  const std::vector<T> zeros(static_cast<size_t>(std::max(p.Q, p.W)), T(0));
  std::vector<T> part(sums ? static_cast<size_t>(p.N * p.C * 10) : 0);

  parallel_for(0, p.N * p.C, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(std::max(p.H, p.P) + 2));
    T wf[9];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t c = task % p.C, n = task / p.C;
      const T* dyc = dy + n * ys[0] + c * ys[1];
      if (dx) {
        for (int64_t u = 0; u < p.H + 2; ++u) {
          const int64_t pr = u + p.pad_h - 2;
          in[u] = pr < 0 || pr >= p.P ? zeros.data() : dyc + pr * ys[2];
        }
        for (int64_t t = 0; t < 9; ++t) wf[8 - t] = w[c * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
        cpu::dwconv_rows_3x3(in.data(), dx_off, p.Q, wf, T(0), dx + n * dxs[0] + c * dxs[1], dxs[2], p.H, p.W);
      }
      if (sums) {
        const T* xc = x + n * xs[0] + c * xs[1];
        for (int64_t u = 0; u < p.P + 2; ++u) {
          const int64_t h = u - p.pad_h;
          in[u] = h < 0 || h >= p.H ? zeros.data() : xc + h * xs[2];
        }
        cpu::dwconv_rows_3x3_wgrad(in.data(), x_off, p.W, dyc, ys[2], p.P, p.Q, part.data() + task * 10);
      }
    }
  });
  for (int64_t c = 0; sums && c < p.C; ++c) {
    T total[10] = {};
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t t = 0; t < 10; ++t) total[t] += part[(n * p.C + c) * 10 + t];
    if (dw)
      for (int64_t t = 0; t < 9; ++t) dw[c * dw_strides[0] + (t / 3) * dw_strides[2] + (t % 3) * dw_strides[3]] = total[t];
    if (db) db[c * p.b_stride] = total[9];
  }
}

template bool conv2d_backward_depthwise_applies<float>(const Conv2dParams&, const int64_t*);
template bool conv2d_backward_depthwise_applies<double>(const Conv2dParams&, const int64_t*);
template void conv2d_backward_depthwise<float>(const Conv2dParams&, const float*, const float*, const float*, float*,
                                               const int64_t*, float*, const int64_t*, float*);
template void conv2d_backward_depthwise<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                double*, const int64_t*, double*, const int64_t*, double*);

}  // namespace fastconv
