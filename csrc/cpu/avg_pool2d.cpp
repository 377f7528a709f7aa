// Average pooling, forward and backward, any strides.
//   x, dx: (N, C, H, W)    y, dy: (N, C, P, Q)
//
// The divisor is torch's CPU kernel's, per window:
//   hstart = oh * stride_h - pad_h;  hend = min(hstart + kernel_h, H + pad_h)   (likewise w)
//   pool_size = (hend - hstart) * (wend - wstart)   -- the window clipped to the padded input
//   hstart, hend clamped to [0, H]                   (likewise w)
//   divisor = divisor_override if nonzero, else pool_size if count_include_pad, else the number of
//   taps inside the input (hend - hstart) * (wend - wstart).
// fprop sums the inside taps in row-major order and divides once; dgrad is a gather: dx[h, w] is the
// sum over the windows that contain (h, w), in (oh, ow) order, of dy / divisor. That is the order in
// which torch's scatter adds them, and no two tasks write the same element (no races, and the same
// bits for any thread count).
//
// Work is tiled as (n, channel block, row). Channel blocks are 1 wide for planar layouts and up to
// kMaxBlock wide when channels are the smallest stride (NHWC), so the innermost loop walks contiguous
// memory; the arithmetic per element is the same either way. The channel loop is specialised at
// compile time (Lanes) so that the one-channel case keeps its sums in registers.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "cpu/parallel.h"
#include "cpu/pool2d_blocking.h"
#include "cpu/pool2d_rows.h"
#include "fastconv/pool.h"

namespace fastconv {

namespace {

using namespace pool_blocking;

// One axis of one window: the clipped-to-padding size and the inside range [lo, hi).
struct Span {
  int64_t size, lo, hi;
};

inline Span window_span(int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t L) {
  const int64_t start = o * stride - pad;
  const int64_t end = std::min(start + k, L + pad);
  return {end - start, std::max<int64_t>(start, 0), std::min(end, L)};
}

inline int64_t divisor(const Pool2dParams& p, const Span& sh, const Span& sw) {
  if (p.divisor_override != 0) return p.divisor_override;
  if (p.count_include_pad) return sh.size * sw.size;
  return std::max<int64_t>(sh.hi - sh.lo, 0) * std::max<int64_t>(sw.hi - sw.lo, 0);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Output positions o in [lo, hi) whose windows (k wide, step stride, leading pad) contain input i.
inline void covering_outputs(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t& lo,
                             int64_t& hi) {
  lo = std::max<int64_t>(0, ceil_div(i + pad - k + 1, stride));
  hi = std::min(out, (i + pad) / stride + 1);
}

template <typename T, Lanes L>
void fprop_row(const Pool2dParams& p, const T* x, T* y, int64_t n, int64_t c0, int64_t cb_in, int64_t oh) {
  const int64_t cb = lane_count<L>(cb_in);
  const int64_t xc = lane_stride<L>(p.x_strides[1]);
  const int64_t xh = p.x_strides[2], xw = p.x_strides[3];
  const int64_t* ys = p.y_strides;
  T sum[kMaxBlock];
  const Span sh = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.H);
  const T* xb = x + (n * p.x_strides[0] + c0 * p.x_strides[1]);
  for (int64_t ow = 0; ow < p.Q; ++ow) {
    const Span sw = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.W);
    for (int64_t c = 0; c < cb; ++c) sum[c] = T(0);
    for (int64_t h = sh.lo; h < sh.hi; ++h)
      for (int64_t w = sw.lo; w < sw.hi; ++w) {
        const T* xp = xb + (h * xh + w * xw);
        for (int64_t c = 0; c < cb; ++c) sum[c] += xp[c * xc];
      }
    const T div = static_cast<T>(divisor(p, sh, sw));
    T* yp = y + (n * ys[0] + c0 * ys[1] + oh * ys[2] + ow * ys[3]);
    for (int64_t c = 0; c < cb; ++c) yp[c * ys[1]] = sum[c] / div;
  }
}

template <typename T, Lanes L>
void dgrad_row(const Pool2dParams& p, const T* dy, T* dx, int64_t n, int64_t c0, int64_t cb_in, int64_t ih) {
  const int64_t cb = lane_count<L>(cb_in);
  const int64_t yc = lane_stride<L>(p.y_strides[1]);
  const int64_t yh = p.y_strides[2], yw = p.y_strides[3];
  const int64_t* xs = p.x_strides;
  T acc[kMaxBlock];
  int64_t plo, phi;
  covering_outputs(ih, p.kernel_h, p.stride_h, p.pad_h, p.P, plo, phi);
  const T* dyb = dy + (n * p.y_strides[0] + c0 * p.y_strides[1]);
  for (int64_t iw = 0; iw < p.W; ++iw) {
    int64_t qlo, qhi;
    covering_outputs(iw, p.kernel_w, p.stride_w, p.pad_w, p.Q, qlo, qhi);
    for (int64_t c = 0; c < cb; ++c) acc[c] = T(0);
    for (int64_t oh = plo; oh < phi; ++oh) {
      const Span sh = window_span(oh, p.kernel_h, p.stride_h, p.pad_h, p.H);
      for (int64_t ow = qlo; ow < qhi; ++ow) {
        const Span sw = window_span(ow, p.kernel_w, p.stride_w, p.pad_w, p.W);
        const T div = static_cast<T>(divisor(p, sh, sw));
        const T* dyp = dyb + (oh * yh + ow * yw);
        for (int64_t c = 0; c < cb; ++c) acc[c] += dyp[c * yc] / div;
      }
    }
    T* dxp = dx + (n * xs[0] + c0 * xs[1] + ih * xs[2] + iw * xs[3]);
    for (int64_t c = 0; c < cb; ++c) dxp[c * xs[1]] = acc[c];
  }
}

// Runs row_fn(lanes, n, c0, cb, row) over every (n, channel block, row) in parallel. The block layout
// follows the written array (strides); lanes follow the array the inner loop reads (read_c_stride).
template <typename RowFn>
void for_each_row(const Pool2dParams& p, const int64_t* strides, int64_t read_c_stride, int64_t rows,
                  int64_t row_work, RowFn&& row_fn) {
  const Blocking blk = channel_blocking(p.C, strides[1], strides[3]);
  const int64_t items = p.N * blk.count * rows;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, row_work * blk.width));
  with_lanes(blk.width, read_c_stride, [&](auto lanes) {
    parallel_for(0, items, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t row = i % rows;
        const int64_t t = i / rows;
        const int64_t c0 = (t % blk.count) * blk.width;
        row_fn(lanes, t / blk.count, c0, std::min(blk.width, p.C - c0), row);
      }
    });
  });
}

}  // namespace

template <typename T>
void avg_pool2d_fprop(const Pool2dParams& p, const T* x, T* y) {
  check_pool2d_params(p);
  if (p.N == 0 || p.C == 0 || p.P == 0 || p.Q == 0) return;
  if constexpr (std::is_same_v<T, float>)
    if (avg_pool2d_fprop_rows(p, x, y)) return;
  for_each_row(p, p.x_strides, p.x_strides[1], p.P, p.Q * p.kernel_h * p.kernel_w,
               [&](auto lanes, int64_t n, int64_t c0, int64_t cb, int64_t oh) {
                 fprop_row<T, decltype(lanes)::value>(p, x, y, n, c0, cb, oh);
               });
}

template <typename T>
void avg_pool2d_dgrad(const Pool2dParams& p, const T* dy, T* dx) {
  check_pool2d_params(p);
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;
  if constexpr (std::is_same_v<T, float>)
    if (avg_pool2d_dgrad_rows(p, dy, dx)) return;
  // Each input sees about (kernel / stride)^2 windows.
  const int64_t per_input = std::max<int64_t>(1, (p.kernel_h / p.stride_h + 1) * (p.kernel_w / p.stride_w + 1));
  for_each_row(p, p.x_strides, p.y_strides[1], p.H, p.W * per_input,
               [&](auto lanes, int64_t n, int64_t c0, int64_t cb, int64_t ih) {
                 dgrad_row<T, decltype(lanes)::value>(p, dy, dx, n, c0, cb, ih);
               });
}

template void avg_pool2d_fprop<float>(const Pool2dParams&, const float*, float*);
template void avg_pool2d_fprop<double>(const Pool2dParams&, const double*, double*);
template void avg_pool2d_dgrad<float>(const Pool2dParams&, const float*, float*);
template void avg_pool2d_dgrad<double>(const Pool2dParams&, const double*, double*);

}  // namespace fastconv
