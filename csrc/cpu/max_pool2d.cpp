// Max pooling, forward and backward, any strides.
//   x, dx: (N, C, H, W)    y, dy, indices: (N, C, P, Q)
//
// Semantics are torch's CPU kernel exactly: padding is -inf and never chosen; only the taps inside
// the input are scanned, in row-major (r, s) order, and a tap replaces the running maximum when
// `v > best || isnan(v)` (ties keep the first, the last NaN wins). The index starts at torch's
// "first tap moved inside" h * W + w, which is what a window without any tap inside (possible with
// dilation) reports, together with -inf; that index may lie outside the plane, and dgrad drops
// indices outside [0, H * W).
//
// Work is tiled as (n, channel block, output row). Channel blocks are 1 wide for planar layouts and
// up to kMaxBlock wide when channels are the smallest stride (NHWC), so the innermost loop walks
// contiguous memory; the arithmetic per element is the same either way, so results do not depend
// on the layout or on how the work is split over threads. The channel loop is specialised at
// compile time (Lanes) so that the one-channel case keeps its running maximum in registers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/pool2d_blocking.h"
#include "cpu/pool2d_rows.h"
#include "fastconv/pool.h"

namespace fastconv {

namespace {

using namespace pool_blocking;

// Taps t in [lo, hi) of a window starting at `start` (k taps, step d) that land in [0, L). lo may
// reach k or beyond when no tap lands inside; start + lo * d is then torch's default coordinate.
inline void inside_taps(int64_t start, int64_t k, int64_t d, int64_t L, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + d - 1) / d;
  hi = start >= L ? 0 : std::min(k, (L - 1 - start) / d + 1);
  if (hi < lo) hi = lo;
}

// The window of output row oh on the h axis.
struct RowWindow {
  int64_t h0, rlo, rhi, hfirst;
};

inline RowWindow row_window(const Pool2dParams& p, int64_t oh) {
  RowWindow rw;
  rw.h0 = oh * p.stride_h - p.pad_h;
  inside_taps(rw.h0, p.kernel_h, p.dilation_h, p.H, rw.rlo, rw.rhi);
  rw.hfirst = rw.h0 + rw.rlo * p.dilation_h;
  return rw;
}

// Maximum and its flat index for channels [c0, c0 + cb) of image n at output (oh, ow).
template <typename T, Lanes L>
inline void window_argmax(const Pool2dParams& p, const T* x, int64_t n, int64_t c0, int64_t cb_in,
                          const RowWindow& rw, int64_t ow, T* best, int64_t* arg) {
  const int64_t cb = lane_count<L>(cb_in);
  const int64_t* xs = p.x_strides;
  const int64_t xc = lane_stride<L>(xs[1]);
  const int64_t w0 = ow * p.stride_w - p.pad_w;
  int64_t slo, shi;
  inside_taps(w0, p.kernel_w, p.dilation_w, p.W, slo, shi);
  const int64_t first = rw.hfirst * p.W + (w0 + slo * p.dilation_w);
  for (int64_t c = 0; c < cb; ++c) {
    best[c] = -std::numeric_limits<T>::infinity();
    arg[c] = first;
  }
  const int64_t base = n * xs[0] + c0 * xs[1];
  for (int64_t r = rw.rlo; r < rw.rhi; ++r) {
    const int64_t h = rw.h0 + r * p.dilation_h;
    for (int64_t s = slo; s < shi; ++s) {
      const int64_t w = w0 + s * p.dilation_w;
      const T* xp = x + (base + h * xs[2] + w * xs[3]);
      const int64_t idx = h * p.W + w;
      for (int64_t c = 0; c < cb; ++c) {
        const T v = xp[c * xc];
        const bool take = v > best[c] || std::isnan(v);
        best[c] = take ? v : best[c];  // selects, not branches: the channel loop vectorises
        arg[c] = take ? idx : arg[c];
      }
    }
  }
}

// One output row of one channel block. y or indices may be null.
template <typename T, Lanes L>
void fprop_row(const Pool2dParams& p, const T* x, T* y, int64_t* indices, int64_t n, int64_t c0, int64_t cb_in,
               int64_t oh) {
  const int64_t cb = lane_count<L>(cb_in);
  T best[kMaxBlock];
  int64_t arg[kMaxBlock];
  const RowWindow rw = row_window(p, oh);
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  for (int64_t ow = 0; ow < p.Q; ++ow) {
    window_argmax<T, L>(p, x, n, c0, cb, rw, ow, best, arg);
    if (y) {
      T* yp = y + (n * ys[0] + c0 * ys[1] + oh * ys[2] + ow * ys[3]);
      for (int64_t c = 0; c < cb; ++c) yp[c * ys[1]] = best[c];
    }
    if (indices) {
      int64_t* ip = indices + (n * is[0] + c0 * is[1] + oh * is[2] + ow * is[3]);
      for (int64_t c = 0; c < cb; ++c) ip[c * is[1]] = arg[c];
    }
  }
}

// Forward over all (n, channel block, output row) items, in parallel.
template <typename T>
void fprop_all(const Pool2dParams& p, const T* x, T* y, int64_t* indices) {
  const Blocking blk = channel_blocking(p.C, p.x_strides[1], p.x_strides[3]);
  const int64_t items = p.N * blk.count * p.P;
  const int64_t row_work = std::max<int64_t>(1, p.Q * p.kernel_h * p.kernel_w * blk.width);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / row_work);
  with_lanes(blk.width, p.x_strides[1], [&](auto lanes) {
    parallel_for(0, items, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t oh = i % p.P;
        const int64_t t = i / p.P;
        const int64_t c0 = (t % blk.count) * blk.width;
        const int64_t n = t / blk.count;
        fprop_row<T, decltype(lanes)::value>(p, x, y, indices, n, c0, std::min(blk.width, p.C - c0), oh);
      }
    });
  });
}

// dx (dx_strides) for channels [c0, c0 + cb) of image n: zeroed, then each window's dy added at its
// argmax, in (oh, ow) order. One task owns these planes, so the sums are the same for any thread count.
template <typename T, Lanes L>
void dgrad_block(const Pool2dParams& p, const T* dy, const T* x, const int64_t* indices, T* dx, int64_t n, int64_t c0,
                 int64_t cb_in) {
  const int64_t cb = lane_count<L>(cb_in);
  const int64_t* xs = p.dx_strides;
  const int64_t* ys = p.y_strides;
  const int64_t* is = p.i_strides;
  const int64_t dx_base = n * xs[0] + c0 * xs[1];
  for (int64_t h = 0; h < p.H; ++h)
    for (int64_t w = 0; w < p.W; ++w) {
      T* dxp = dx + (dx_base + h * xs[2] + w * xs[3]);
      for (int64_t c = 0; c < cb; ++c) dxp[c * xs[1]] = T(0);
    }
  const int64_t plane = p.H * p.W;
  T best[kMaxBlock];
  int64_t arg[kMaxBlock];
  for (int64_t oh = 0; oh < p.P; ++oh) {
    const RowWindow rw = row_window(p, oh);
    for (int64_t ow = 0; ow < p.Q; ++ow) {
      if (indices) {
        const int64_t* ip = indices + (n * is[0] + c0 * is[1] + oh * is[2] + ow * is[3]);
        for (int64_t c = 0; c < cb; ++c) arg[c] = ip[c * is[1]];
      } else {
        window_argmax<T, L>(p, x, n, c0, cb, rw, ow, best, arg);
      }
      const T* dyp = dy + (n * ys[0] + c0 * ys[1] + oh * ys[2] + ow * ys[3]);
      for (int64_t c = 0; c < cb; ++c) {
        const int64_t i = arg[c];
        if (i < 0 || i >= plane) continue;  // a window without any tap inside, or a foreign index
        const int64_t h = i / p.W;
        const int64_t w = i - h * p.W;
        dx[dx_base + c * xs[1] + h * xs[2] + w * xs[3]] += dyp[c * ys[1]];
      }
    }
  }
}

// Recomputing the argmax costs kernel_h * kernel_w per output, the scatter one add: when there are
// too few planes to keep the threads busy, the argmax goes first into a scratch index array, computed
// in parallel over rows (at most this many elements; beyond it the planes run as they are).
constexpr int64_t kMaxScratchIndices = int64_t(1) << 24;

}  // namespace

template <typename T>
void max_pool2d_fprop(const Pool2dParams& p, const T* x, T* y, int64_t* indices) {
  check_pool2d_params(p);
  if (p.N == 0 || p.C == 0 || p.P == 0 || p.Q == 0) return;
  if constexpr (std::is_same_v<T, float>)
    if (max_pool2d_fprop_rows(p, x, y, indices)) return;
  fprop_all(p, x, y, indices);
}

template <typename T>
void max_pool2d_dgrad(const Pool2dParams& p_in, const T* dy, const T* x, const int64_t* indices, T* dx) {
  check_pool2d_params(p_in);
  if (p_in.N == 0 || p_in.C == 0 || p_in.H == 0 || p_in.W == 0) return;
  if constexpr (std::is_same_v<T, float>)
    if (max_pool2d_dgrad_rows(p_in, dy, x, indices, dx)) return;
  Pool2dParams p = p_in;
  const Blocking blk = channel_blocking(p.C, p.dx_strides[1], p.dx_strides[3]);
  const int64_t tasks = p.N * blk.count;
  std::vector<int64_t> scratch;
  const int64_t outputs = p.N * p.C * p.P * p.Q;
  if (!indices && tasks < 2 * static_cast<int64_t>(get_num_threads()) && p.P > 1 && outputs > 0 &&
      outputs <= kMaxScratchIndices && p.kernel_h * p.kernel_w > 1) {
    scratch.resize(static_cast<size_t>(outputs));
    p.i_strides[3] = 1;
    p.i_strides[2] = p.Q;
    p.i_strides[1] = p.P * p.Q;
    p.i_strides[0] = p.C * p.P * p.Q;
    fprop_all<T>(p, x, nullptr, scratch.data());
    indices = scratch.data();
  }
  const int64_t plane_work = std::max<int64_t>(1, (p.H * p.W + p.P * p.Q) * blk.width);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / plane_work);
  // Lanes follow x, which the argmax reads (with indices, the loops are cheap either way).
  with_lanes(blk.width, p.x_strides[1], [&](auto lanes) {
    parallel_for(0, tasks, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t c0 = (t % blk.count) * blk.width;
        dgrad_block<T, decltype(lanes)::value>(p, dy, x, indices, dx, t / blk.count, c0,
                                               std::min(blk.width, p.C - c0));
      }
    });
  });
}

template void max_pool2d_fprop<float>(const Pool2dParams&, const float*, float*, int64_t*);
template void max_pool2d_fprop<double>(const Pool2dParams&, const double*, double*, int64_t*);
template void max_pool2d_dgrad<float>(const Pool2dParams&, const float*, const float*, const int64_t*, float*);
template void max_pool2d_dgrad<double>(const Pool2dParams&, const double*, const double*, const int64_t*, double*);

}  // namespace fastconv
