// The row algorithm for pooling (float32): the work is split into (unit, row range) items, a unit
// being one plane (planar layouts: w contiguous) or one image's block of channels (NHWC: c
// contiguous), and each row goes through the selected ISA's microkernels (ukernels/pool2d.h).
//   forward:  one output row at a time from its window's input rows;
//   backward: one dx row at a time, gathered from the prepared output rows that cover it, kept in
//             a small ring (dy copied or divided, indices narrowed to int32 or recomputed).
// Every output element is computed by the same operations in the same order whatever the split, so
// results are the same bits for any thread count; the backward sums follow the (oh, ow) order of the
// scatter in max_pool2d.cpp / avg_pool2d.cpp, so they are the same bits as that too.
//
// The entry points return false where the algorithm does not apply (float64 goes elsewhere before
// this; here: a vectorised axis that is not contiguous, flat indices beyond int32, dilation in a
// backward pass); the caller then runs the generic loops.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/parallel.h"
#include "cpu/ukernels/pool2d.h"
#include "fastconv/pool.h"

namespace fastconv {

bool max_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y, int64_t* indices);
bool max_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, const float* x, const int64_t* indices, float* dx);
bool avg_pool2d_fprop_rows(const Pool2dParams& p, const float* x, float* y);
bool avg_pool2d_dgrad_rows(const Pool2dParams& p, const float* dy, float* dx);

namespace pool_rows {

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// The kernels keep flat indices h * W + w, lane offsets lane * stride and tap offsets in int32.
inline bool fits_int32(const Pool2dParams& p) {
  constexpr int64_t kSmall = int64_t(1) << 26;
  return p.H * p.W < (int64_t(1) << 31) - 1 && p.W < kSmall && p.stride_w < kSmall && p.kernel_w < kSmall &&
         p.dilation_w < kSmall && p.pad_w < kSmall && p.kernel_w * p.dilation_w < kSmall;
}

// Whether channels are the smallest stride of an array (the NHWC family reads it), as the generic
// code's channel blocking decides.
inline bool channels_inner(const Pool2dParams& p, const int64_t* s) {
  return p.C > 1 && (s[1] < 0 ? -s[1] : s[1]) < (s[3] < 0 ? -s[3] : s[3]);
}

// Taps [lo, hi) of a window starting at `start` that land in [0, n) (lo: torch's default if none).
inline void inside_taps(int64_t start, int64_t k, int64_t d, int64_t n, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + d - 1) / d;
  hi = start >= n ? 0 : std::min(k, (n - 1 - start) / d + 1);
  if (hi < lo) hi = lo;
}

inline cpu::PoolRowGeom row_geom(const Pool2dParams& p) {
  cpu::PoolRowGeom g;
  g.W = p.W, g.Q = p.Q;
  g.kw = p.kernel_w, g.sw = p.stride_w, g.pw = p.pad_w, g.dw = p.dilation_w;
  g.q_lo = std::min(p.Q, ceil_div(p.pad_w, p.stride_w));
  const int64_t last = floor_div(p.W - 1 + p.pad_w - (p.kernel_w - 1) * p.dilation_w, p.stride_w);
  g.q_hi = std::max(g.q_lo, std::min(p.Q, last + 1));
  return g;
}

// The inside input rows of output row oh: their heights into hs, pointers base + h * row_stride into
// ptrs; returns how many. first_h: the first inside row, or torch's default row when there is none.
inline int64_t window_rows(const Pool2dParams& p, int64_t oh, const float* base, int64_t row_stride, int64_t* hs,
                           const float** ptrs, int64_t* first_h) {
  const int64_t h0 = oh * p.stride_h - p.pad_h;
  int64_t lo, hi;
  inside_taps(h0, p.kernel_h, p.dilation_h, p.H, lo, hi);
  *first_h = h0 + lo * p.dilation_h;
  for (int64_t r = lo; r < hi; ++r) {
    hs[r - lo] = h0 + r * p.dilation_h;
    ptrs[r - lo] = base + hs[r - lo] * row_stride;
  }
  return hi - lo;
}

// Items: `units` independent units of `rows` rows each, cut into row blocks when there are too few
// units to keep the threads busy. Calls fn(unit, row_begin, row_end) in parallel.
template <typename Fn>
void for_each_item(int64_t units, int64_t rows, int64_t work_per_row, bool may_split_rows, Fn&& fn) {
  if (units <= 0 || rows <= 0) return;
  const int64_t want = 4 * static_cast<int64_t>(get_num_threads());
  int64_t blocks = 1;
  if (may_split_rows && units < want) blocks = std::min(rows, (want + units - 1) / units);
  const int64_t per_block = (rows + blocks - 1) / blocks;
  blocks = (rows + per_block - 1) / per_block;
  const int64_t item_work = std::max<int64_t>(1, per_block * std::max<int64_t>(1, work_per_row));
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / item_work);
  parallel_for(0, units * blocks, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t b = i % blocks;
      const int64_t r0 = b * per_block;
      fn(i / blocks, r0, std::min(rows, r0 + per_block));
    }
  });
}

// The planar forward kernels read input rows as padded copies deinterleaved by stride phase
// (pool2d.h): per phase phase_len floats, w = 0 at phase 0 index `left / sw` of the slot.
struct PlanarLayout {
  int64_t left = 0, phase_len = 0;
  std::vector<int64_t> tap_off;

  PlanarLayout(const Pool2dParams& p, int lanes) : tap_off(static_cast<size_t>(p.kernel_w)) {
    const int64_t sw = p.stride_w, unit = sw * lanes;
    left = (p.pad_w + unit - 1) / unit * unit;
    const int64_t end = std::max(p.W, (p.Q - 1) * sw - p.pad_w + (p.kernel_w - 1) * p.dilation_w + 1);
    phase_len = ((left + end + sw - 1) / sw + 2 * lanes + lanes - 1) / lanes * lanes;
    cpu::planar_tap_offsets(p.kernel_w, sw, p.pad_w, p.dilation_w, phase_len, tap_off.data());
  }
  void apply(cpu::PoolRowGeom& g) const {
    g.phase_len = phase_len;
    g.tap_off = tap_off.data();
  }
};

// Slot h % slots holds input row h as a PlanarLayout copy with `fill` outside [0, W). The copy also
// tells whether the row holds a NaN, and makes any w stride contiguous. Each row is copied once while
// the windows move forward (the slots span one window's rows).
class PaddedRows {
 public:
  PaddedRows(const Pool2dParams& p, const PlanarLayout& layout, int lanes, float fill)
      : sw_(p.stride_w), W_(p.W), phase_len_(layout.phase_len), base_(layout.left / p.stride_w),
        slots_((p.kernel_h - 1) * p.dilation_h + 1),
        buf_(static_cast<size_t>(slots_ * sw_ * phase_len_ + lanes), fill),
        held_(static_cast<size_t>(slots_), -1),
        nan_(static_cast<size_t>(slots_), 0) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(buf_.data()) / sizeof(float);  // align phases to vectors
    shift_ = static_cast<int64_t>((lanes - at % lanes) % lanes);
  }

  // Row h (its w = 0), copying src[w * w_stride] for w < W if needed; nan |= whether it holds a NaN.
  const float* get(const cpu::Pool2dKernels& k, int64_t h, const float* src, int64_t w_stride, bool& nan) {
    const size_t slot = static_cast<size_t>(h % slots_);
    float* row = buf_.data() + shift_ + static_cast<int64_t>(slot) * sw_ * phase_len_ + base_;
    if (held_[slot] != h) {
      nan_[slot] = k.copy_row_phases(src, w_stride, W_, sw_, phase_len_, row);
      held_[slot] = h;
    }
    nan = nan || nan_[slot];
    return row;
  }

 private:
  int64_t sw_, W_, phase_len_, base_, slots_, shift_ = 0;
  std::vector<float> buf_;
  std::vector<int64_t> held_;
  std::vector<char> nan_;
};

// Output rows [lo, hi] (clamped) whose windows cover input row h (dilation 1).
inline void covering_rows(const Pool2dParams& p, int64_t h, int64_t& lo, int64_t& hi) {
  lo = std::max<int64_t>(0, ceil_div(h + p.pad_h - p.kernel_h + 1, p.stride_h));
  hi = std::min<int64_t>(p.P - 1, floor_div(h + p.pad_h, p.stride_h));
}

// Prepared output rows for the backward gathers: slot oh % slots holds row oh.
struct Ring {
  int64_t slots = 0, len = 0;
  std::vector<float> values;
  std::vector<int32_t> index;

  // `fill_*`: the padding values every slot starts with (the kernels may read the margins).
  Ring(int64_t kernel_h, int64_t stride_h, int64_t row_len, bool with_index, float fill_value, int32_t fill_index)
      : slots((kernel_h + stride_h - 1) / stride_h + 1), len(row_len),
        values(static_cast<size_t>(slots * row_len), fill_value),
        index(with_index ? static_cast<size_t>(slots * row_len) : 0, fill_index) {}
  float* value_row(int64_t oh) { return values.data() + (oh % slots) * len; }
  int32_t* index_row(int64_t oh) { return index.data() + (oh % slots) * len; }
};

// Walks dx rows [h_begin, h_end) of one unit: prepare(oh) once for each output row as it first
// becomes needed, then gather(h, first_oh, n_oh).
template <typename Prepare, typename Gather>
void walk_rows(const Pool2dParams& p, int64_t h_begin, int64_t h_end, Prepare&& prepare, Gather&& gather) {
  int64_t next = -1;
  for (int64_t h = h_begin; h < h_end; ++h) {
    int64_t lo, hi;
    covering_rows(p, h, lo, hi);
    for (int64_t oh = std::max(next, lo); oh <= hi; ++oh) prepare(oh);
    if (hi >= lo) next = std::max(next, hi + 1);
    gather(h, lo, std::max<int64_t>(0, hi - lo + 1));
  }
}

}  // namespace pool_rows
}  // namespace fastconv
