// conv2d backward, depthwise 3x3 with unit strides and dilations, one filter per channel: dx, dw and
// db from one pass over dy, on planes (NCHW) or channels-last rows (NHWC).
//   dy: (N, C, P, Q)   x, dx: (N, C, H, W)   w, dw: (C, 1, 3, 3)   db: (C,)
// Each task computes its part of dx from dy (the flipped filter run forward, the kernel and sum
// order of conv2d_dgrad_depthwise), then the 9 weight sums and the bias sum from the same dy rows,
// still in cache, and x's rows. Separate passes would stream dy from memory three times. Each
// task's sums have their own slot, added in task order at the end (tasks depend on the shape
// only), so the results are the same bits for any thread count and every run.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_depthwise.h"
#include "parallel.h"
#include "ukernels/dwconv.h"
#include "ukernels/igemm.h"

namespace fastconv {

using namespace cpu::depthwise;

namespace {

// Planes: task = one (n, c) plane.
template <typename T>
void backward_planes(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, const int64_t* dxs, T* dw,
                     const int64_t* dws, T* db) {
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
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
      for (int64_t t = 0; t < 9; ++t) dw[c * dws[0] + (t / 3) * dws[2] + (t % 3) * dws[3]] = total[t];
    if (db) db[c * p.b_stride] = total[9];
  }
}

// Channels: task = (n, band of kBand rows): dx rows and dy rows with the band's indices (so the dy
// rows dx reads are mostly those the sums read). Each task's sums (10 x C) have their own slot,
// added over the tasks in order at the end.
template <typename T>
void backward_channels(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx, const int64_t* dxs, T* dw,
                       const int64_t* dws, T* db) {
  constexpr int64_t kBand = 8;
  const int64_t C = p.C;
  const int64_t *xs = p.x_strides, *ys = p.y_strides, *ws = p.w_strides;
  const bool sums = dw != nullptr || db != nullptr;
  const int64_t bands = ceil_div(std::max(p.H, p.P), kBand), tasks = p.N * bands;
  std::vector<T> wf(dx ? static_cast<size_t>(9 * C) : 0);
  for (int64_t t = 0; dx && t < 9; ++t)
    for (int64_t c = 0; c < C; ++c) wf[(8 - t) * C + c] = w[c * ws[0] + (t / 3) * ws[2] + (t % 3) * ws[3]];
  const ZeroRow<T> dy_zeros(p.Q, ys[3], C), x_zeros(p.W, xs[3], C);
  std::vector<T> part(sums ? static_cast<size_t>(tasks * 10 * C) : 0);
  const bool stream = cpu::stream_output(p.N * p.H * p.W * C * static_cast<int64_t>(sizeof(T)));  // dx, as fprop

  parallel_for(0, tasks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> in(static_cast<size_t>(kBand + 4));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / bands, r0 = (task % bands) * kBand;
      const int64_t h1 = std::min(p.H, r0 + kBand), p1 = std::min(p.P, r0 + kBand);
      if (dx && h1 > r0) {
        channels_band_rows(dy, ys[0], ys[2], p.N, p.P, n, r0, h1, p.H, p.pad_h - 2, dy_zeros.row, in.data());
        cpu::dwconv_channels_3x3(in.data(), ys[3], p.pad_w - 2, p.Q, wf.data(), C, nullptr,
                                 dx + n * dxs[0] + r0 * dxs[2], dxs[2], dxs[3], h1 - r0, p.W, stream);
      }
      if (sums) {
        T* res = part.data() + task * 10 * C;
        if (p1 <= r0) {
          std::fill(res, res + 10 * C, T(0));
          continue;
        }
        for (int64_t u = 0; u < p1 - r0 + 2; ++u) {
          const int64_t h = r0 - p.pad_h + u;
          in[u] = h < 0 || h >= p.H ? x_zeros.row : x + n * xs[0] + h * xs[2];
        }
        cpu::dwconv_channels_3x3_wgrad(in.data(), xs[3], -p.pad_w, p.W, dy + n * ys[0] + r0 * ys[2], ys[2], ys[3],
                                       p1 - r0, p.Q, C, res);
      }
    }
  });
  if (!sums) return;
  std::vector<T> total(part.begin(), part.begin() + 10 * C);
  for (int64_t task = 1; task < tasks; ++task)
    for (int64_t j = 0; j < 10 * C; ++j) total[j] += part[task * 10 * C + j];
  for (int64_t c = 0; c < C; ++c) {
    if (dw)
      for (int64_t t = 0; t < 9; ++t) dw[c * dws[0] + (t / 3) * dws[2] + (t % 3) * dws[3]] = total[t * C + c];
    if (db) db[c * p.b_stride] = total[9 * C + c];
  }
}

}  // namespace

template <typename T>
bool conv2d_backward_depthwise_applies(const Conv2dParams& p, const int64_t* dx_strides) {
  if (!conv2d_is_depthwise(p) || p.K != p.C || p.N <= 0 || p.P <= 0 || p.Q <= 0 || p.H <= 0 || p.W <= 0 ||
      !planes_3x3_direct(p, nullptr, nullptr))
    return false;
  if (use_channels_path<T>(p)) return dx_strides == nullptr || dx_strides[1] == 1;
  return p.x_strides[3] == 1 && p.y_strides[3] == 1 && (dx_strides == nullptr || dx_strides[3] == 1);
}

template <typename T>
void conv2d_backward_depthwise(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                               const int64_t* dx_strides, T* dw, const int64_t* dw_strides, T* db) {
  if (use_channels_path<T>(p)) backward_channels(p, dy, x, w, dx, dx_strides, dw, dw_strides, db);
  else backward_planes(p, dy, x, w, dx, dx_strides, dw, dw_strides, db);
}

template bool conv2d_backward_depthwise_applies<float>(const Conv2dParams&, const int64_t*);
template bool conv2d_backward_depthwise_applies<double>(const Conv2dParams&, const int64_t*);
template void conv2d_backward_depthwise<float>(const Conv2dParams&, const float*, const float*, const float*, float*,
                                               const int64_t*, float*, const int64_t*, float*);
template void conv2d_backward_depthwise<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                double*, const int64_t*, double*, const int64_t*, double*);

}  // namespace fastconv
