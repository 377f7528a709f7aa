// The row algorithm for pooling (float32): the work is split into (unit, row range) items, a unit
// being one plane (planar layouts) or one image's block of channels (NHWC: c contiguous), and each
// row goes through the selected ISA's microkernels (ukernels/pool2d.h).
//   forward:  one output row at a time from its window's input rows (planar: padded copies of the
//             rows, deinterleaved by stride phase, each made once; 2x2 stride 2: rows read in place);
//   backward: planar max, a scatter per plane in (oh, ow) order (max_pool2d_rows.cpp), or with
//             disjoint windows each dx row written directly; otherwise one dx row at a time,
//             gathered from the prepared output rows that cover it, kept in a small ring (dy copied
//             or divided, indices narrowed to int32 or recomputed).
// Every output element is computed by the same operations in the same order whatever the split, so
// results are the same bits for any thread count; the backward sums follow the (oh, ow) order of the
// scatter in max_pool2d.cpp / avg_pool2d.cpp, so they are the same bits as that too.
//
// The entry points return false where the algorithm does not apply (float64 goes elsewhere before
// this; here: flat indices beyond int32, scratch beyond a bound, a vectorised axis that is not
// contiguous, dilation in a backward pass, planar dx planes that are not dense); the caller then runs
// the generic loops.
#pragma once

#include <algorithm>
#include <cstdint>
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
inline int64_t pow2_at_least(int64_t n) {
  int64_t s = 1;
  while (s < n) s *= 2;
  return s;
}

// The kernels keep flat indices h * W + w, lane offsets lane * stride and tap offsets in int32.
inline bool fits_int32(const Pool2dParams& p) {
  constexpr int64_t kSmall = int64_t(1) << 26;
  return p.H * p.W < (int64_t(1) << 31) - 1 && p.W < kSmall && p.stride_w < kSmall && p.kernel_w < kSmall &&
         p.dilation_w < kSmall && p.pad_w < kSmall && p.kernel_w * p.dilation_w < kSmall && p.kernel_h < kSmall &&
         p.dilation_h < kSmall;
}

// Per-thread scratch stays bounded (row copies span a window's rows; NHWC rings hold Q x 64 values
// per row): beyond this the generic loops, which need none, take over.
inline bool scratch_fits(const Pool2dParams& p) {
  constexpr int64_t kMaxScratchFloats = int64_t(1) << 26;  // 256 MB
  const int64_t span = (p.kernel_h - 1) * p.dilation_h + 1;
  const int64_t row = p.W + 2 * p.pad_w + p.kernel_w * p.dilation_w + 256;
  return span <= kMaxScratchFloats / row / 2 && p.kernel_h * 64 <= kMaxScratchFloats / (p.Q + 64);
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

// Per-call tables, shared read-only by all items, so that the row loops divide nothing.
struct Plan {
  const Pool2dParams& p;
  const cpu::Pool2dKernels& k;
  cpu::PoolRowGeom g;             // forward kernels
  cpu::GatherGeom gg;             // backward kernels
  std::vector<int64_t> first_h;   // P: each output row's first inside input row (torch's default if none)
  std::vector<int64_t> n_rows;    // P: how many inside rows
  std::vector<int64_t> cover;     // 2H: output rows [lo, hi] covering each input row (backward)
  std::vector<int32_t> taps;      // 2Q: NHWC forward, each window's inside taps
  std::vector<int32_t> cols;      // 2W: backward, the outputs covering each column
  std::vector<int64_t> tap_off;   // kw: planar forward, see PaddedRows
  int64_t left = 0;               // planar forward: padding before w = 0 in a row copy

  Plan(const Pool2dParams& p_, bool backward) : p(p_), k(cpu::pool2d_kernels()) {
    g.W = p.W, g.Q = p.Q;
    g.kw = p.kernel_w, g.sw = p.stride_w, g.pw = p.pad_w, g.dw = p.dilation_w;
    g.q_lo = std::min(p.Q, ceil_div(p.pad_w, p.stride_w));
    const int64_t last = floor_div(p.W - 1 + p.pad_w - (p.kernel_w - 1) * p.dilation_w, p.stride_w);
    g.q_hi = std::max(g.q_lo, std::min(p.Q, last + 1));
    g.k2s2 = p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 &&
             p.pad_w == 0 && p.dilation_h == 1 && p.dilation_w == 1;
    first_h.resize(static_cast<size_t>(p.P));
    n_rows.resize(static_cast<size_t>(p.P));
    for (int64_t oh = 0; oh < p.P; ++oh) {
      const int64_t h0 = oh * p.stride_h - p.pad_h;
      int64_t lo, hi;
      inside_taps(h0, p.kernel_h, p.dilation_h, p.H, lo, hi);
      first_h[static_cast<size_t>(oh)] = h0 + lo * p.dilation_h;
      n_rows[static_cast<size_t>(oh)] = hi - lo;
    }
    taps.resize(static_cast<size_t>(2 * p.Q));
    cpu::pool_tap_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, taps.data());
    g.taps = taps.data();
    // Planar row copies: phase_len floats per stride phase, w = 0 at index left / sw of phase 0.
    const int64_t lanes = k.lanes, sw = p.stride_w, unit = sw * lanes;
    left = (p.pad_w + unit - 1) / unit * unit;
    const int64_t end = std::max(p.W, (p.Q - 1) * sw - p.pad_w + (p.kernel_w - 1) * p.dilation_w + 1);
    g.phase_len = ((left + end + sw - 1) / sw + 3 * lanes - 1) / lanes * lanes;
    tap_off.resize(static_cast<size_t>(p.kernel_w));
    cpu::planar_tap_offsets(p.kernel_w, sw, p.pad_w, p.dilation_w, g.phase_len, tap_off.data());
    g.tap_off = tap_off.data();
    if (!backward) return;
    cover.resize(static_cast<size_t>(2 * p.H));
    for (int64_t h = 0; h < p.H; ++h) {
      cover[static_cast<size_t>(2 * h)] = std::max<int64_t>(0, ceil_div(h + p.pad_h - p.kernel_h + 1, p.stride_h));
      cover[static_cast<size_t>(2 * h + 1)] = std::min<int64_t>(p.P - 1, floor_div(h + p.pad_h, p.stride_h));
    }
    cols.resize(static_cast<size_t>(2 * p.W));
    cpu::pool_cover_table(p.W, p.Q, p.kernel_w, p.stride_w, p.pad_w, cols.data());
    gg.W = p.W, gg.Q = p.Q, gg.kw = p.kernel_w, gg.sw = p.stride_w, gg.pw = p.pad_w;
    gg.margin = lanes + p.kernel_w + 2;
    gg.cols = cols.data();
    gg.t_begin = floor_div(p.pad_w, sw);
    gg.t_end = floor_div(p.W - 1 + p.pad_w, sw) + 1;
    for (int64_t phi = 0; phi < 2; ++phi)  // outputs covering phase phi (none when phi > kw - 1)
      gg.j_phase[phi] = phi <= p.kernel_w - 1 ? (p.kernel_w - 1 - phi) / sw + 1 : 0;
  }

  // The inside input rows of output row oh: heights into hs, pointers base + h * row_stride into ptrs.
  int64_t window(int64_t oh, const float* base, int64_t row_stride, int64_t* hs, const float** ptrs) const {
    const int64_t n = n_rows[static_cast<size_t>(oh)], h0 = first_h[static_cast<size_t>(oh)];
    for (int64_t r = 0; r < n; ++r) {
      hs[r] = h0 + r * p.dilation_h;
      ptrs[r] = base + hs[r] * row_stride;
    }
    return n;
  }
};

// Items: `units` independent units of `rows` rows each, cut into row blocks when there are too few
// units to keep the threads busy. Runs fn(scratch, unit, row_begin, row_end) in parallel, with one
// scratch (make_scratch()) per chunk of items.
template <typename MakeScratch, typename Fn>
void for_each_item(int64_t units, int64_t rows, int64_t work_per_row, bool may_split_rows, MakeScratch&& make_scratch,
                   Fn&& fn) {
  if (units <= 0 || rows <= 0) return;
  const int64_t want = 4 * static_cast<int64_t>(get_num_threads());
  int64_t blocks = 1;
  if (may_split_rows && units < want) blocks = std::min(rows, (want + units - 1) / units);
  const int64_t per_block = (rows + blocks - 1) / blocks;
  blocks = (rows + per_block - 1) / per_block;
  const int64_t item_work = std::max<int64_t>(1, per_block * std::max<int64_t>(1, work_per_row));
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / item_work);
  parallel_for(0, units * blocks, grain, [&](int64_t lo, int64_t hi) {
    auto scratch = make_scratch();
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t r0 = (i % blocks) * per_block;
      fn(scratch, i / blocks, r0, std::min(rows, r0 + per_block));
    }
  });
}

// Planar input rows for the forward kernels (cpu::PlanarRows): slot h & (slots - 1) holds row h as a
// padded copy deinterleaved by stride phase (`fill` outside [0, W)); the copies are made by the unit
// kernels, once per row while the windows move forward. reset() before each unit.
class PaddedRows {
 public:
  PaddedRows(const Plan& plan, float fill)
      : slots_(pow2_at_least((plan.p.kernel_h - 1) * plan.p.dilation_h + 1)),
        buf_(static_cast<size_t>(slots_ * plan.p.stride_w * plan.g.phase_len + plan.k.lanes), fill),
        held_(static_cast<size_t>(slots_), -1),
        nan_(static_cast<size_t>(slots_), 0),
        ptr_(static_cast<size_t>(plan.p.kernel_h)),
        hs_(static_cast<size_t>(plan.p.kernel_h)) {
    const int64_t lanes = plan.k.lanes;
    const uintptr_t at = reinterpret_cast<uintptr_t>(buf_.data()) / sizeof(float);  // align phases to vectors
    rows_.buf = buf_.data() + (lanes - static_cast<int64_t>(at % lanes)) % lanes;
    rows_.slots = slots_;
    rows_.base = plan.left / plan.p.stride_w;
    rows_.held = held_.data();
    rows_.nan = nan_.data();
    rows_.ptr = ptr_.data();
    rows_.hs = hs_.data();
    rows_.fill = fill;
  }
  PaddedRows(PaddedRows&& o) noexcept
      : slots_(o.slots_), buf_(std::move(o.buf_)), held_(std::move(o.held_)), nan_(std::move(o.nan_)),
        ptr_(std::move(o.ptr_)), hs_(std::move(o.hs_)), rows_(o.rows_) {}  // vectors keep their buffers
  void reset() { std::fill(held_.begin(), held_.end(), -1); }
  cpu::PlanarRows& rows() { return rows_; }

 private:
  int64_t slots_;
  std::vector<float> buf_;
  std::vector<int64_t> held_;
  std::vector<char> nan_;
  std::vector<const float*> ptr_;
  std::vector<int64_t> hs_;
  cpu::PlanarRows rows_{};
};

// A planar unit for the forward unit kernels, output rows [oa, ob) (y and idx rows with unit q stride).
inline cpu::PlanarUnit planar_unit(const Plan& plan, const float* plane, float* y, int64_t ys_h, void* idx,
                                   int64_t is_h, cpu::PoolIdx ik, int64_t oa, int64_t ob) {
  cpu::PlanarUnit u{};
  u.x = plane, u.xs_h = plan.p.x_strides[2], u.xs_w = plan.p.x_strides[3];
  u.y = y, u.ys_h = ys_h, u.idx = idx, u.is_h = is_h, u.ik = ik;
  u.first_h = plan.first_h.data(), u.n_rows = plan.n_rows.data(), u.dh = plan.p.dilation_h;
  u.oa = oa, u.ob = ob;
  u.H = plan.p.H;
  return u;
}

// Prepared output rows for the backward gathers: slot oh & (slots - 1) holds row oh. Every slot
// starts as `fill_*` (the kernels read the margins); preparing a row rewrites only its data.
struct Ring {
  int64_t slots = 0, len = 0;
  std::vector<float> values;
  std::vector<int32_t> index;

  Ring(const Pool2dParams& p, int64_t row_len, bool with_index, float fill_value, int32_t fill_index)
      : slots(pow2_at_least((p.kernel_h + p.stride_h - 1) / p.stride_h)), len(row_len),
        values(static_cast<size_t>(slots * row_len), fill_value),
        index(with_index ? static_cast<size_t>(slots * row_len) : 0, fill_index) {}
  float* value_row(int64_t oh) { return values.data() + (oh & (slots - 1)) * len; }
  int32_t* index_row(int64_t oh) { return index.data() + (oh & (slots - 1)) * len; }
};

// Walks dx rows [h_begin, h_end) of one unit: prepare(oh) once for each output row as it first
// becomes needed, then gather(h, first_oh, n_oh).
template <typename Prepare, typename Gather>
void walk_rows(const Plan& plan, int64_t h_begin, int64_t h_end, Prepare&& prepare, Gather&& gather) {
  int64_t next = -1;
  for (int64_t h = h_begin; h < h_end; ++h) {
    const int64_t lo = plan.cover[static_cast<size_t>(2 * h)], hi = plan.cover[static_cast<size_t>(2 * h + 1)];
    for (int64_t oh = std::max(next, lo); oh <= hi; ++oh) prepare(oh);
    if (hi >= lo) next = std::max(next, hi + 1);
    gather(h, lo, std::max<int64_t>(0, hi - lo + 1));
  }
}

}  // namespace pool_rows
}  // namespace fastconv
