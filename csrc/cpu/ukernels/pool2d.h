// Pooling microkernels per ISA (float32), written once (pool2d_generic.inc) over a small vector
// abstraction and compiled per ISA (pool2d__avx512.cpp, pool2d__avx2.cpp, pool2d__scalar.cpp).
//
// Forward, planar (NCHW), per unit (plane) and range of output rows: each input row is copied once
//   into a padded buffer deinterleaved by stride phase (the copy also scans for NaN), so that every
//   tap of a vector of outputs is one unit-stride load; vectors run in pairs (independent chains).
// Forward, NHWC, per output row: vectorised along the contiguous channels, four vectors at a time.
// Backward, gathers: dx of one input row from the prepared output rows that cover it, summed in
//   (oh, ow) order, which is the order of a scatter over the outputs: the same bits as one, without
//   races (each dx element has one writer). Prepared rows (see GatherGeom) hold dy (max) or
//   dy / divisor (avg), and for max the argmax as int32 flat h * W + w, -1 where it is outside the
//   plane; max adds dy where the argmax equals the element and counts those matches, so the caller
//   can tell whether every in-plane index was inside its own window (else it scatters instead).
//   (Planar max backward is a plain scatter per plane in max_pool2d_rows.cpp.)
//
// Max-pool semantics are torch's (see max_pool2d.cpp): taps in row-major order, `v > best || isnan(v)`
// replaces the running maximum. Without NaN in the window rows the kernels use a plain maximum
// (`v > best ? v : best`), which gives the same result; rows with a NaN take the exact rule.
// Flat indices are int32 inside the kernels: the caller takes this path only when H * W < 2^31.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

enum class PoolIdx : int { none = 0, i32 = 1, i64 = 2 };

// The w axis (and for NHWC the pixel layout) of a forward call.
struct PoolRowGeom {
  int64_t W = 0, Q = 0;
  int64_t kw = 1, sw = 1, pw = 0, dw = 1;
  int64_t q_lo = 0, q_hi = 0;  // outputs whose kw taps all lie inside [0, W)
  // Planar: rows are copies deinterleaved by stride phase, phase_len floats per phase; tap s of
  // output q is element q of row + tap_off[s] (planar_tap_offsets).
  int64_t phase_len = 0;
  const int64_t* tap_off = nullptr;
  // Planar 2x2 windows, stride 2, no padding, dilation 1 (both axes): the unit kernels then read the
  // rows in place (when w is contiguous) and deinterleave the taps in registers, with no copies.
  bool k2s2 = false;
  int64_t C = 1;               // NHWC: channels, contiguous
  int64_t xs_w = 1;            // NHWC: elements between neighbouring pixels of x
  const int32_t* taps = nullptr;  // Q pairs [lo, hi), the window's taps inside [0, W) (pool_tap_table)
};

// The inside input rows of one output row's windows: n >= 1 rows, in window order.
struct PoolRows {
  const float* const* ptr;  // row r at w = 0 (NHWC: pixel w = 0 of the channel block)
  const int64_t* h;         // its height in the plane (flat index h * W + w)
  int64_t n;
};

// The w axis of a backward call, and the prepared output rows.
//   planar (avg): each prepared row has `margin` padding entries on both sides (0), so the kernel
//           may read outputs q in [-margin, Q + margin); margin >= lanes + kw + 2.
//   NHWC:   each prepared index row is Q x C (c fastest), each value row Q pixels value_qs apart
//           (C contiguous channels each; max may read dy in place), no padding; dx pixels dx_ws apart.
struct GatherGeom {
  int64_t W = 0, Q = 0;
  int64_t kw = 1, sw = 1, pw = 0;
  int64_t margin = 0;
  // planar, sw <= 2: dx elements go by t = (w + pw) div sw in [t_begin, t_end); an element of phase
  // phi = (w + pw) mod sw is covered by j_phase[phi] outputs (see avg_gather_planar).
  int64_t t_begin = 0, t_end = 0, j_phase[2] = {0, 0};
  int64_t C = 1;
  int64_t value_qs = 1;
  int64_t dx_ws = 1;
  const int32_t* cols = nullptr;  // W pairs [lo, hi], the outputs covering each w (pool_cover_table)
};

// Planar forward over output rows [oa, ob) of one unit (plane): each input row is copied once into a
// slot of `rows`, then the row kernel runs. A copy puts the element at w in phase w mod sw, index
// floor(w / sw) (w from -pw to the end of the last window and two vectors beyond: phase_len floats per
// phase), with -inf (max) or 0 (avg) outside [0, W), so every tap is one unmasked load; the fill
// neither wins a maximum nor changes a sum from +0 (such a sum is never -0). y and index rows have
// unit q stride.
struct PlanarRows {
  float* buf;     // slots * sw * phase_len floats, `fill` (-inf / 0) wherever no row element is copied
  int64_t slots;  // a power of two, at least one window's span of rows
  int64_t base;   // w = 0 of slot s at buf + s * sw * phase_len + base
  int64_t* held;  // per slot: the row it holds, or -1
  char* nan;      // per slot: whether that row holds a NaN
  const float** ptr;  // kernel_h entries of scratch for the kernels
  int64_t* hs;        // kernel_h entries of scratch
  float fill;         // -inf (max) or 0 (avg)
};

struct PlanarUnit {
  const float* x;  // the plane
  int64_t xs_h, xs_w;
  float* y;  // output row oa; rows ys_h apart
  int64_t ys_h;
  void* idx;  // index row oa (PoolIdx), rows is_h apart; null with PoolIdx::none
  int64_t is_h;
  PoolIdx ik;
  const int64_t* first_h;  // per output row: its first inside input row (torch's default if none)
  const int64_t* n_rows;   // per output row: how many inside rows
  int64_t dh;              // dilation along h
  const float* const* div;  // avg: per output row, its Q divisors
  int64_t oa, ob;
  int64_t H;                // input height
};

// Planar max backward with disjoint windows, per unit: dx rows [ha, hb).
struct DisjointDgrad {
  const float* dy;  // dy plane
  int64_t dy_hs, dy_qs;
  float* dx;  // dx plane
  int64_t dx_hs;
  int64_t ha, hb;
  const int64_t* cover;  // per dx row: output rows [lo, hi] covering it (at most one)
  int32_t* arg;          // Q + lanes scratch entries
  float* ybuf;           // Q + lanes scratch entries
};

// Microkernels of one ISA.
struct Pool2dKernels {
  int lanes;  // floats per vector
  // Planar forward over a unit's rows (PlanarUnit, PlanarRows). Index rows: PoolIdx::i32 -> int32_t,
  // i64 -> int64_t, none -> ignored. With PoolIdx::i32 (scratch) the y and index rows may be written up
  // to a vector past Q.
  void (*max_unit_planar)(const PoolRowGeom& g, const PlanarUnit& u, PlanarRows& rows);
  void (*avg_unit_planar)(const PoolRowGeom& g, const PlanarUnit& u, PlanarRows& rows);
  // NHWC forward of one output row from its window's inside rows: y[q * y_qs + c], idx[q * i_qs + c];
  // exact: some row holds a NaN. div: Q divisors.
  void (*max_row_nhwc)(const PoolRowGeom& g, const PoolRows& rows, bool exact, float* y, int64_t y_qs, PoolIdx ik,
                       void* idx, int64_t i_qs);
  void (*avg_row_nhwc)(const PoolRowGeom& g, const PoolRows& rows, const float* div, float* y, int64_t y_qs);
  // dst[q * C + c] = src[q * q_stride + c * c_stride] / div[q] for q < Q, c < C.
  void (*divide_rows)(const float* src, int64_t q_stride, int64_t c_stride, int64_t Q, int64_t C, const float* div,
                      float* dst);
  // Backward: dx row h from the n_oh prepared output rows that cover it (ascending oh). matches += the
  // number of (output, element) pairs whose index named the element (null: no count).
  void (*avg_gather_planar)(const GatherGeom& g, const float* const* gy, int64_t n_oh, float* dx);
  void (*max_gather_nhwc)(const GatherGeom& g, const float* const* dy, const int32_t* const* idx, int64_t n_oh,
                          int64_t h, float* dx, int64_t* matches);
  void (*avg_gather_nhwc)(const GatherGeom& g, const float* const* gy, int64_t n_oh, float* dx);
  // Whether any of p[0], p[stride], ..., p[(n - 1) * stride] is NaN (stride 1: contiguous, vectorised).
  bool (*any_nan)(const float* p, int64_t n, int64_t stride);
  // p[0, n) = +0 with ordinary stores (memset may write around the caches, and the scatter that
  // follows reads the zeros back).
  void (*zero)(float* p, int64_t n);
  // n indices src[i * stride] to int32, -1 where outside [0, plane); returns how many are inside.
  int64_t (*narrow_indices)(const int64_t* src, int64_t stride, int64_t n, int64_t plane, int32_t* dst);
  // Planar max backward without indices, disjoint windows (kh <= sh, kw <= sw, dilation 1): dx rows
  // [ha, hb) of one plane written whole, each element dy of the window whose recomputed argmax names
  // it, else 0 (u: the plane's forward, PoolIdx::i32).
  void (*max_dgrad_disjoint_unit)(const PoolRowGeom& g, const GatherGeom& gg, const PlanarUnit& u, PlanarRows& rows,
                                  const DisjointDgrad& d);
  // Planar avg backward for g.k2s2 (vector ISAs; lanes == 1 must not call it): dx rows [d.ha, d.hb)
  // written whole, 0 + dy / divisor (u.div) over each window; dy rows with unit q stride.
  void (*avg_dgrad_2x2s2)(const PoolRowGeom& g, const PlanarUnit& u, const DisjointDgrad& d);
};

// tap_off[s], s < kw, for rows copied with phase_len floats per phase: the value at w = q * sw - pw +
// s * dw is element q of phase (c mod sw) at offset floor(c / sw), c = s * dw - pw.
void planar_tap_offsets(int64_t kw, int64_t sw, int64_t pw, int64_t dw, int64_t phase_len, int64_t* tap_off);

// The selected ISA's kernels (isa.h), chosen once per process.
const Pool2dKernels& pool2d_kernels();

// Q pairs: the taps [lo, hi) of window q inside [0, W) (lo is torch's default tap when none is).
void pool_tap_table(int64_t W, int64_t Q, int64_t kw, int64_t sw, int64_t pw, int64_t dw, int32_t* out);
// W pairs: the outputs [lo, hi] (clamped to [0, Q); lo > hi when none) whose windows cover w (dilation 1).
void pool_cover_table(int64_t W, int64_t Q, int64_t kw, int64_t sw, int64_t pw, int32_t* out);

#define FASTCONV_POOL2D_DECLARE_KERNELS(ns) \
  namespace ns {                            \
  const Pool2dKernels& pool2d_kernels();    \
  }
FASTCONV_POOL2D_DECLARE_KERNELS(scalar)
FASTCONV_POOL2D_DECLARE_KERNELS(avx2)
FASTCONV_POOL2D_DECLARE_KERNELS(avx512)
#undef FASTCONV_POOL2D_DECLARE_KERNELS

}  // namespace cpu
}  // namespace fastconv
