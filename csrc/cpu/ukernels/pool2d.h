// Pooling microkernels per ISA (float32): one output row forward, one input row backward.
//
// Forward, planar (NCHW):  y[q] for q < Q of one output row, from the window's inside input rows,
//   each a padded copy deinterleaved by stride phase (copy_row_phases), so that every tap of a vector
//   of outputs is one unit-stride load.
// Forward, NHWC:           y[q, c] for q < Q, c < C of one output row, vectorised along c.
// Backward (gather):       dx of one input row from the prepared output rows that cover it, summed in
//   (oh, ow) order, which is the order of a scatter over the outputs: the same bits as one, without
//   the races (each dx element has one writer).  Prepared rows (see GatherGeom) hold dy (max) or
//   dy / divisor (avg), and for max the argmax as int32 flat h * W + w, -1 where it is outside the
//   plane.  Max adds dy where the argmax equals the element and counts those matches, so the caller
//   can tell whether every in-plane index was inside its own window (else it scatters instead).
//
// Max-pool semantics are torch's (see max_pool2d.cpp): taps in row-major order, `v > best || isnan(v)`
// replaces the running maximum. `exact = false` promises that the window rows hold no NaN, which lets
// the kernel use a plain maximum; the caller scans for NaN first.
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
  // Planar: rows are deinterleaved copies, phase_len floats per phase; tap s of output q is element
  // q of ptr + tap_off[s] (planar_tap_offsets).
  int64_t phase_len = 0;
  const int64_t* tap_off = nullptr;
  int64_t C = 1;               // NHWC: channels, contiguous
  int64_t xs_w = 1;            // NHWC: elements between neighbouring pixels of x
  const int32_t* taps = nullptr;  // NHWC: Q pairs [lo, hi), the window's taps inside [0, W) (pool_tap_table)
};

// The inside input rows of one output row's windows: n >= 1 rows, in window order.
struct PoolRows {
  const float* const* ptr;  // row r at w = 0 (NHWC: pixel w = 0 of the channel block)
  const int64_t* h;         // its height in the plane (flat index h * W + w)
  int64_t n;
};

// The w axis of a backward call, and the prepared output rows.
//   planar: each prepared row has `margin` padding entries on both sides (dy/g 0, index -1), so the
//           kernel may read outputs q in [-margin, Q + margin). With sw > 1 the vector path needs
//           perm/cover: J x lanes tables (pool2d_gather_tables below), null for the scalar path.
//   NHWC:   each prepared row is Q x C (c fastest), no padding; dx pixels dx_ws apart.
struct GatherGeom {
  int64_t W = 0, Q = 0;
  int64_t kw = 1, sw = 1, pw = 0;
  int64_t J = 1;  // sw == 1: kw; else ceil(kw / sw): the most outputs covering one element
  int64_t margin = 0;
  const int32_t* perm = nullptr;
  const int32_t* cover = nullptr;
  int64_t C = 1;
  int64_t dx_ws = 1;
  const int32_t* cols = nullptr;  // W pairs [lo, hi], the outputs covering each w (pool_cover_table)
};

// Microkernels of one ISA.
struct Pool2dKernels {
  int lanes;  // floats per vector
  // Planar forward. rows.ptr[r]: a copy_row_phases copy whose every element from w = -pw to the end
  // of the last window exists, -inf (max) or 0 (avg) outside [0, W). idx: PoolIdx::i32 -> int32_t*,
  // i64 -> int64_t*, none -> ignored. div: Q divisors.
  void (*max_row_planar)(const PoolRowGeom& g, const PoolRows& rows, bool exact, float* y, PoolIdx ik, void* idx);
  void (*avg_row_planar)(const PoolRowGeom& g, const PoolRows& rows, const float* div, float* y);
  // NHWC forward: y[q * y_qs + c], idx[q * i_qs + c].
  void (*max_row_nhwc)(const PoolRowGeom& g, const PoolRows& rows, bool exact, float* y, int64_t y_qs, PoolIdx ik,
                       void* idx, int64_t i_qs);
  void (*avg_row_nhwc)(const PoolRowGeom& g, const PoolRows& rows, const float* div, float* y, int64_t y_qs);
  // Backward: dx row h from the n_oh prepared output rows that cover it (ascending oh). matches += the
  // number of (output, element) pairs whose index named the element.
  void (*max_gather_planar)(const GatherGeom& g, const float* const* dy, const int32_t* const* idx, int64_t n_oh,
                            int64_t h, float* dx, int64_t* matches);
  void (*avg_gather_planar)(const GatherGeom& g, const float* const* gy, int64_t n_oh, float* dx);
  void (*max_gather_nhwc)(const GatherGeom& g, const float* const* dy, const int32_t* const* idx, int64_t n_oh,
                          int64_t h, float* dx, int64_t* matches);
  void (*avg_gather_nhwc)(const GatherGeom& g, const float* const* gy, int64_t n_oh, float* dx);
  // Whether any of p[0], p[stride], ..., p[(n - 1) * stride] is NaN (stride 1: contiguous, vectorised).
  bool (*any_nan)(const float* p, int64_t n, int64_t stride);
  // Copies src[w * stride], w < W, to dst[(w % sw) * phase_len + w / sw]; returns whether any is NaN.
  bool (*copy_row_phases)(const float* src, int64_t stride, int64_t W, int64_t sw, int64_t phase_len, float* dst);
};

// tap_off[s], s < kw, for rows copied with phase_len floats per phase: the value at w = q * sw - pw +
// s * dw is element q of phase (c mod sw) at offset floor(c / sw), c = s * dw - pw.
void planar_tap_offsets(int64_t kw, int64_t sw, int64_t pw, int64_t dw, int64_t phase_len, int64_t* tap_off);

// The selected ISA's kernels (isa.h), chosen once per process.
const Pool2dKernels& pool2d_kernels();

// Builds the planar gather tables for sw > 1 into perm/cover (J * lanes entries each); false when
// the vector path does not apply (lanes not a multiple of sw, or a segment wider than a vector).
bool pool2d_gather_tables(int lanes, int64_t kw, int64_t sw, int64_t pw, int64_t J, int32_t* perm, int32_t* cover);

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
