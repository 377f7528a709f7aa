// Index arithmetic of the implicit-GEMM convolutions, shared by the CUDA kernels (csrc/cuda/) and the
// CPU build, where a private binding exposes it to tests that emulate the kernels' tile loops.
//
// Every pass is a GEMM per group, C[m][n] = sum_k A[m][k] * B[k][n], whose operands are gathered
// from the tensors (CUTLASS's conv organisation):
//   fprop: m = (n, p, q), n = k,  k = (r, s, c)     A = x (im2col), B = w,   C = y
//   dgrad: m = (n, h, w) of one stride phase, n = c, k = (r, s, k) of that phase's taps
//                                                   A = dy,         B = w,   C = dx
//   wgrad: m = k, n = (r, s, c), k = (n, p, q)      A = dy,         B = x,   C = dw
// The innermost index of the reduction (c, k, q) is the fastest so that consecutive reduction
// steps touch neighbouring channels or columns. Tensor axes are logical with element strides
// (Conv2dParams), so NCHW, NHWC and strided views are indexed directly, without transposes.
// GEMM indices are 32-bit (the host refuses problems that do not fit); memory offsets are 64-bit.
#pragma once

#include <cstdint>

#include "fastconv/conv.h"
#include "fastconv/host_device.h"

namespace fastconv {
namespace conv_index {

// Division by a run-time constant as a multiply-high and a shift (Granlund & Montgomery; CUTLASS's
// FastDivmod). Exact for dividends in [0, 2^31) and divisors in [1, 2^31).
struct FastDivmod {
  int32_t divisor = 1;
  uint32_t multiplier = 0;
  uint32_t shift = 0;

  FastDivmod() = default;
  FASTCONV_HOST_DEVICE explicit FastDivmod(int32_t d) : divisor(d < 1 ? 1 : d) {
    if (divisor == 1) return;
    // l = ceil(log2(d)); m = ceil(2^(31 + l) / d) < 2^32.
    uint32_t l = 0;
    while ((uint64_t(1) << l) < uint64_t(divisor)) ++l;
    const uint64_t p = 31 + l;
    multiplier = uint32_t(((uint64_t(1) << p) + uint64_t(divisor) - 1) / uint64_t(divisor));
    shift = uint32_t(p - 32);
  }

  FASTCONV_HOST_DEVICE int32_t div(int32_t src) const {
    if (divisor == 1) return src;
#if defined(__CUDA_ARCH__)
    return int32_t(__umulhi(uint32_t(src), multiplier) >> shift);
#else
    return int32_t(uint32_t((uint64_t(uint32_t(src)) * multiplier) >> 32) >> shift);
#endif
  }
  FASTCONV_HOST_DEVICE void divmod(int32_t src, int32_t& quo, int32_t& rem) const {
    quo = div(src);
    rem = src - quo * divisor;
  }
};

// Split-K: the reduction [0, k_total) is cut into `splits` contiguous ranges of whole bk-wide tiles;
// split i sums [begin, end) (possibly empty). The fixed partition makes the second pass, which adds
// the partial sums in split order, give the same bits on every run.
FASTCONV_HOST_DEVICE void splitk_range(int32_t k_total, int32_t splits, int32_t split, int32_t bk, int32_t& begin,
                                       int32_t& end) {
  const int32_t tiles = (k_total + bk - 1) / bk;
  const int32_t per_split = (tiles + splits - 1) / splits;
  const int64_t b = int64_t(split) * per_split * bk;
  const int64_t e = b + int64_t(per_split) * bk;
  begin = int32_t(b < k_total ? b : k_total);
  end = int32_t(e < k_total ? e : k_total);
}

// One axis of a strided dgrad phase. Input positions x with (x + pad) % stride == res receive
// contributions from exactly the taps t with (t * dilation) % stride == res, and from no others:
// that is what lets dgrad skip the zeros a transposed convolution would insert between dy elements.
// The positions are x0, x0 + stride, ... (count of them); the taps t0, t0 + tstep, ... (taps of them).
struct DgradAxisPhase {
  int32_t x0 = 0, count = 0;
  int32_t t0 = 0, tstep = 1, taps = 0;
};

FASTCONV_HOST_DEVICE int32_t gcd_i32(int32_t a, int32_t b) {
  while (b != 0) {
    const int32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

FASTCONV_HOST_DEVICE DgradAxisPhase dgrad_axis_phase(int32_t in, int32_t k, int32_t stride, int32_t pad,
                                                     int32_t dilation, int32_t res) {
  DgradAxisPhase ph;
  ph.x0 = ((res - pad) % stride + stride) % stride;
  ph.count = ph.x0 < in ? (in - 1 - ph.x0) / stride + 1 : 0;
  ph.tstep = stride / gcd_i32(stride, dilation);
  ph.t0 = -1;
  for (int32_t t = 0; t < ph.tstep; ++t) {
    if ((int64_t(t) * dilation) % stride == res) {
      ph.t0 = t;
      break;
    }
  }
  if (ph.t0 < 0 || ph.t0 >= k) {
    ph.t0 = 0;
    ph.taps = 0;
  } else {
    ph.taps = (k - 1 - ph.t0) / ph.tstep + 1;
  }
  return ph;
}

// ---------------------------------------------------------------------------------------------
// Operand gathers. a_row/b_col precompute what a thread needs for one GEMM row/column of its tile
// once (the offset tables of CUTLASS's iterators, held in registers); a_offset/b_offset then map a
// reduction index to a memory offset, or return false where the element is padding or out of range
// (the kernel zero-fills it). c_offset maps an output element; false outside the problem.
// *_group: offset between consecutive groups of each operand.

// fprop: x: (N, C, H, W), w: (K, C/groups, R, S), y: (N, K, P, Q)
struct Conv2dFpropGather {
  int32_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  int32_t H = 0, W = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  FastDivmod div_pq, div_q, div_c, div_s;
  int64_t xs[4] = {0, 0, 0, 0}, ws[4] = {0, 0, 0, 0}, ys[4] = {0, 0, 0, 0};
  int64_t a_group = 0, b_group = 0, c_group = 0;

  struct Row {
    int64_t base;
    int32_t h0, w0;
    bool valid;
  };
  struct Col {
    int64_t base;
    bool valid;
  };

  FASTCONV_HOST_DEVICE Row a_row(int32_t m) const {
    Row row{0, 0, 0, m < gemm_m};
    if (!row.valid) return row;
    int32_t n, pq, p, q;
    div_pq.divmod(m, n, pq);
    div_q.divmod(pq, p, q);
    row.base = n * xs[0];
    row.h0 = p * stride_h - pad_h;
    row.w0 = q * stride_w - pad_w;
    return row;
  }
  FASTCONV_HOST_DEVICE bool a_offset(const Row& row, int32_t kk, int64_t& off) const {
    if (!row.valid || kk >= gemm_k) return false;
    int32_t rs, c, r, s;
    div_c.divmod(kk, rs, c);
    div_s.divmod(rs, r, s);
    const int32_t h = row.h0 + r * dil_h, w = row.w0 + s * dil_w;
    if (h < 0 || h >= H || w < 0 || w >= W) return false;
    off = row.base + c * xs[1] + h * xs[2] + w * xs[3];
    return true;
  }
  FASTCONV_HOST_DEVICE Col b_col(int32_t n) const { return Col{n * ws[0], n < gemm_n}; }
  FASTCONV_HOST_DEVICE bool b_offset(const Col& col, int32_t kk, int64_t& off) const {
    if (!col.valid || kk >= gemm_k) return false;
    int32_t rs, c, r, s;
    div_c.divmod(kk, rs, c);
    div_s.divmod(rs, r, s);
    off = col.base + c * ws[1] + r * ws[2] + s * ws[3];
    return true;
  }
  FASTCONV_HOST_DEVICE bool c_offset(int32_t m, int32_t n, int64_t& off) const {
    if (m >= gemm_m || n >= gemm_n) return false;
    int32_t b, pq, p, q;
    div_pq.divmod(m, b, pq);
    div_q.divmod(pq, p, q);
    off = b * ys[0] + n * ys[1] + p * ys[2] + q * ys[3];
    return true;
  }
};

// dgrad, one phase (res_h, res_w): dy: (N, K, P, Q), w: (K, C/groups, R, S), dx: (N, C, H, W).
// With stride 1 there is one phase holding every position and every tap: the convolution of dy
// with the flipped weights.
struct Conv2dDgradGather {
  int32_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  int32_t P = 0, Q = 0, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int32_t stride_h = 1, stride_w = 1;
  DgradAxisPhase ph_h, ph_w;
  FastDivmod div_hw, div_w, div_k, div_taps_s, div_stride_h, div_stride_w;
  int64_t dys[4] = {0, 0, 0, 0}, ws[4] = {0, 0, 0, 0}, dxs[4] = {0, 0, 0, 0};
  int64_t a_group = 0, b_group = 0, c_group = 0;

  struct Row {
    int64_t base;
    int32_t hp, wp;  // h + pad_h, w + pad_w
    bool valid;
  };
  struct Col {
    int64_t base;
    bool valid;
  };
  struct Tap {
    int32_t r, s, k;
  };

  FASTCONV_HOST_DEVICE void position(int32_t m, int32_t& n, int32_t& h, int32_t& w) const {
    int32_t hw, ih, iw;
    div_hw.divmod(m, n, hw);
    div_w.divmod(hw, ih, iw);
    h = ph_h.x0 + ih * stride_h;
    w = ph_w.x0 + iw * stride_w;
  }
  FASTCONV_HOST_DEVICE Tap tap(int32_t kk) const {
    int32_t rs, k, ri, si;
    div_k.divmod(kk, rs, k);
    div_taps_s.divmod(rs, ri, si);
    return Tap{ph_h.t0 + ri * ph_h.tstep, ph_w.t0 + si * ph_w.tstep, k};
  }
  FASTCONV_HOST_DEVICE Row a_row(int32_t m) const {
    Row row{0, 0, 0, m < gemm_m};
    if (!row.valid) return row;
    int32_t n, h, w;
    position(m, n, h, w);
    row.base = n * dys[0];
    row.hp = h + pad_h;
    row.wp = w + pad_w;
    return row;
  }
  FASTCONV_HOST_DEVICE bool a_offset(const Row& row, int32_t kk, int64_t& off) const {
    if (!row.valid || kk >= gemm_k) return false;
    const Tap t = tap(kk);
    // The phase makes these numerators multiples of the strides; negative ones lie before dy.
    const int32_t nh = row.hp - t.r * dil_h, nw = row.wp - t.s * dil_w;
    if (nh < 0 || nw < 0) return false;
    const int32_t p = div_stride_h.div(nh), q = div_stride_w.div(nw);
    if (p >= P || q >= Q) return false;
    off = row.base + t.k * dys[1] + p * dys[2] + q * dys[3];
    return true;
  }
  FASTCONV_HOST_DEVICE Col b_col(int32_t c) const { return Col{c * ws[1], c < gemm_n}; }
  FASTCONV_HOST_DEVICE bool b_offset(const Col& col, int32_t kk, int64_t& off) const {
    if (!col.valid || kk >= gemm_k) return false;
    const Tap t = tap(kk);
    off = col.base + t.k * ws[0] + t.r * ws[2] + t.s * ws[3];
    return true;
  }
  FASTCONV_HOST_DEVICE bool c_offset(int32_t m, int32_t c, int64_t& off) const {
    if (m >= gemm_m || c >= gemm_n) return false;
    int32_t n, h, w;
    position(m, n, h, w);
    off = n * dxs[0] + c * dxs[1] + h * dxs[2] + w * dxs[3];
    return true;
  }
};

// wgrad: dy: (N, K, P, Q), x: (N, C, H, W), dw: (K, C/groups, R, S)
struct Conv2dWgradGather {
  int32_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  int32_t H = 0, W = 0, stride_h = 1, stride_w = 1;
  FastDivmod div_pq, div_q, div_c, div_s;
  int32_t pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t dys[4] = {0, 0, 0, 0}, xs[4] = {0, 0, 0, 0}, dws[4] = {0, 0, 0, 0};
  int64_t a_group = 0, b_group = 0, c_group = 0;

  struct Row {
    int64_t base;
    bool valid;
  };
  struct Col {
    int64_t base;
    int32_t h_off, w_off;  // r * dil_h - pad_h, s * dil_w - pad_w
    bool valid;
  };

  FASTCONV_HOST_DEVICE void tap(int32_t col, int32_t& r, int32_t& s, int32_t& c) const {
    int32_t rs;
    div_c.divmod(col, rs, c);
    div_s.divmod(rs, r, s);
  }
  FASTCONV_HOST_DEVICE void pixel(int32_t kk, int32_t& n, int32_t& p, int32_t& q) const {
    int32_t pq;
    div_pq.divmod(kk, n, pq);
    div_q.divmod(pq, p, q);
  }
  FASTCONV_HOST_DEVICE Row a_row(int32_t k) const { return Row{k * dys[1], k < gemm_m}; }
  FASTCONV_HOST_DEVICE bool a_offset(const Row& row, int32_t kk, int64_t& off) const {
    if (!row.valid || kk >= gemm_k) return false;
    int32_t n, p, q;
    pixel(kk, n, p, q);
    off = row.base + n * dys[0] + p * dys[2] + q * dys[3];
    return true;
  }
  FASTCONV_HOST_DEVICE Col b_col(int32_t col) const {
    Col c{0, 0, 0, col < gemm_n};
    if (!c.valid) return c;
    int32_t r, s, ch;
    tap(col, r, s, ch);
    c.base = ch * xs[1];
    c.h_off = r * dil_h - pad_h;
    c.w_off = s * dil_w - pad_w;
    return c;
  }
  FASTCONV_HOST_DEVICE bool b_offset(const Col& col, int32_t kk, int64_t& off) const {
    if (!col.valid || kk >= gemm_k) return false;
    int32_t n, p, q;
    pixel(kk, n, p, q);
    const int32_t h = p * stride_h + col.h_off, w = q * stride_w + col.w_off;
    if (h < 0 || h >= H || w < 0 || w >= W) return false;
    off = col.base + n * xs[0] + h * xs[2] + w * xs[3];
    return true;
  }
  FASTCONV_HOST_DEVICE bool c_offset(int32_t k, int32_t col, int64_t& off) const {
    if (k >= gemm_m || col >= gemm_n) return false;
    int32_t r, s, c;
    tap(col, r, s, c);
    off = k * dws[0] + c * dws[1] + r * dws[2] + s * dws[3];
    return true;
  }
};

// ---------------------------------------------------------------------------------------------
// Host-side construction from Conv2dParams (x/w/y strides describe dx/dw/dy in the backward passes).

// True when every GEMM index of the three passes fits the 32-bit arithmetic of the gathers.
inline bool conv2d_implicit_gemm_fits(const Conv2dParams& p) {
  const int64_t lim = int64_t(1) << 31;
  const int64_t cg = p.C_per_group(), kg = p.K_per_group();
  return p.N * p.P * p.Q < lim && p.N * p.H * p.W < lim && p.R * p.S * cg < lim && p.R * p.S * kg < lim &&
         p.H < lim && p.W < lim && p.P * p.stride_h + p.R * p.dilation_h < lim &&
         p.Q * p.stride_w + p.S * p.dilation_w < lim && p.H + p.pad_h < lim && p.W + p.pad_w < lim;
}

inline Conv2dFpropGather make_fprop_gather(const Conv2dParams& p) {
  Conv2dFpropGather g;
  const int64_t cg = p.C_per_group(), kg = p.K_per_group();
  g.gemm_m = int32_t(p.N * p.P * p.Q);
  g.gemm_n = int32_t(kg);
  g.gemm_k = int32_t(p.R * p.S * cg);
  g.H = int32_t(p.H), g.W = int32_t(p.W);
  g.stride_h = int32_t(p.stride_h), g.stride_w = int32_t(p.stride_w);
  g.pad_h = int32_t(p.pad_h), g.pad_w = int32_t(p.pad_w);
  g.dil_h = int32_t(p.dilation_h), g.dil_w = int32_t(p.dilation_w);
  g.div_pq = FastDivmod(int32_t(p.P * p.Q));
  g.div_q = FastDivmod(int32_t(p.Q));
  g.div_c = FastDivmod(int32_t(cg));
  g.div_s = FastDivmod(int32_t(p.S));
  for (int i = 0; i < 4; ++i) g.xs[i] = p.x_strides[i], g.ws[i] = p.w_strides[i], g.ys[i] = p.y_strides[i];
  g.a_group = cg * p.x_strides[1];
  g.b_group = kg * p.w_strides[0];
  g.c_group = kg * p.y_strides[1];
  return g;
}

// Phases are numbered res_h * stride_w + res_w, 0 <= phase < stride_h * stride_w.
inline Conv2dDgradGather make_dgrad_gather(const Conv2dParams& p, int32_t phase) {
  Conv2dDgradGather g;
  const int64_t cg = p.C_per_group(), kg = p.K_per_group();
  const int32_t sh = int32_t(p.stride_h), sw = int32_t(p.stride_w);
  g.ph_h = dgrad_axis_phase(int32_t(p.H), int32_t(p.R), sh, int32_t(p.pad_h), int32_t(p.dilation_h), phase / sw);
  g.ph_w = dgrad_axis_phase(int32_t(p.W), int32_t(p.S), sw, int32_t(p.pad_w), int32_t(p.dilation_w), phase % sw);
  g.gemm_m = int32_t(p.N * g.ph_h.count * g.ph_w.count);
  g.gemm_n = int32_t(cg);
  g.gemm_k = int32_t(g.ph_h.taps * g.ph_w.taps * kg);
  g.P = int32_t(p.P), g.Q = int32_t(p.Q);
  g.pad_h = int32_t(p.pad_h), g.pad_w = int32_t(p.pad_w);
  g.dil_h = int32_t(p.dilation_h), g.dil_w = int32_t(p.dilation_w);
  g.stride_h = sh, g.stride_w = sw;
  g.div_hw = FastDivmod(g.ph_h.count * g.ph_w.count);
  g.div_w = FastDivmod(g.ph_w.count);
  g.div_k = FastDivmod(int32_t(kg));
  g.div_taps_s = FastDivmod(g.ph_w.taps);
  g.div_stride_h = FastDivmod(sh);
  g.div_stride_w = FastDivmod(sw);
  for (int i = 0; i < 4; ++i) g.dys[i] = p.y_strides[i], g.ws[i] = p.w_strides[i], g.dxs[i] = p.x_strides[i];
  g.a_group = kg * p.y_strides[1];
  g.b_group = kg * p.w_strides[0];
  g.c_group = cg * p.x_strides[1];
  return g;
}

inline Conv2dWgradGather make_wgrad_gather(const Conv2dParams& p) {
  Conv2dWgradGather g;
  const int64_t cg = p.C_per_group(), kg = p.K_per_group();
  g.gemm_m = int32_t(kg);
  g.gemm_n = int32_t(p.R * p.S * cg);
  g.gemm_k = int32_t(p.N * p.P * p.Q);
  g.H = int32_t(p.H), g.W = int32_t(p.W);
  g.stride_h = int32_t(p.stride_h), g.stride_w = int32_t(p.stride_w);
  g.pad_h = int32_t(p.pad_h), g.pad_w = int32_t(p.pad_w);
  g.dil_h = int32_t(p.dilation_h), g.dil_w = int32_t(p.dilation_w);
  g.div_pq = FastDivmod(int32_t(p.P * p.Q));
  g.div_q = FastDivmod(int32_t(p.Q));
  g.div_c = FastDivmod(int32_t(cg));
  g.div_s = FastDivmod(int32_t(p.S));
  for (int i = 0; i < 4; ++i) g.dys[i] = p.y_strides[i], g.xs[i] = p.x_strides[i], g.dws[i] = p.w_strides[i];
  g.a_group = kg * p.y_strides[1];
  g.b_group = cg * p.x_strides[1];
  g.c_group = kg * p.w_strides[0];
  return g;
}

// ---------------------------------------------------------------------------------------------
// Tile shapes and the host-side choice among them. Every thread owns an 8x8 block of C; the
// threads of a CTA are (bm/8) x (bn/8). The choice never changes results: each output element is
// accumulated by one thread over its reduction range in increasing k, whatever the tile.

enum class GemmTile : int { t128x128 = 0, t64x64 = 1, t128x32 = 2, t128x64 = 3 };

struct GemmTileShape {
  int32_t bm, bn, bk;
};

FASTCONV_HOST_DEVICE constexpr GemmTileShape gemm_tile_shape(GemmTile t) {
  return t == GemmTile::t128x128 ? GemmTileShape{128, 128, 8}
         : t == GemmTile::t64x64 ? GemmTileShape{64, 64, 8}
         : t == GemmTile::t128x64 ? GemmTileShape{128, 64, 8}
                                  : GemmTileShape{128, 32, 8};
}

// The SM count the heuristics aim at (H100 SXM: 132). A constant rather than a device query so that
// the split-K partition, and with it wgrad's bits, does not depend on the card.
constexpr int64_t kTargetCtas = 132;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Narrow N (few output channels: a C = 1 first layer, a stem, a 64-channel ResNet stage) takes a
// tile no wider than N, so that no column of the CTA idles; otherwise the largest tile that still
// gives every SM a CTA.
inline GemmTile choose_gemm_tile(int64_t gemm_m, int64_t gemm_n, int64_t groups) {
  if (gemm_n <= 32) return GemmTile::t128x32;
  if (gemm_n <= 64)
    return groups * ceil_div(gemm_m, 128) >= kTargetCtas ? GemmTile::t128x64 : GemmTile::t64x64;
  const int64_t big = groups * ceil_div(gemm_m, 128) * ceil_div(gemm_n, 128);
  return big >= kTargetCtas ? GemmTile::t128x128 : GemmTile::t64x64;
}

// How the threads cover the operand tiles (tile_load_coord), from the tensors' strides: along the
// reduction where its innermost index (c, k or q) is the unit-stride axis, else along the rows.
// Few channels (C/groups < 8) leave most of a k-run empty, so those stay on rows. A true result
// means A and B are both loaded along k (fprop, wgrad) or A is (dgrad; its B goes along c).
inline bool conv2d_fprop_loads_along_k(const Conv2dParams& p) { return p.x_strides[1] == 1 && p.C_per_group() >= 8; }
inline bool conv2d_dgrad_loads_along_k(const Conv2dParams& p) { return p.y_strides[1] == 1 && p.K_per_group() >= 8; }
inline bool conv2d_wgrad_loads_along_k(const Conv2dParams& p) { return p.y_strides[1] != 1; }

// wgrad's reduction runs over N*P*Q, usually far longer than its M x N tile grid is wide: split it
// until about two CTAs per SM are busy, keeping at least 16 reduction tiles per split.
inline int32_t conv2d_wgrad_splits(const Conv2dParams& p) {
  const Conv2dWgradGather g = make_wgrad_gather(p);
  const GemmTileShape t = gemm_tile_shape(choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups));
  const int64_t ctas = p.groups * ceil_div(g.gemm_m, t.bm) * ceil_div(g.gemm_n, t.bn);
  const int64_t k_tiles = ceil_div(g.gemm_k, t.bk);
  int64_t splits = ceil_div(2 * kTargetCtas, ctas);
  const int64_t by_depth = k_tiles / 16;
  if (splits > by_depth) splits = by_depth;
  if (splits > 64) splits = 64;
  if (p.groups * splits > 65535) splits = 65535 / p.groups;
  return int32_t(splits < 1 ? 1 : splits);
}

// Workspace the caller provides (bytes, float32 elements): wgrad's split-K partial sums,
// laid out [split][group][k][r, s, c]; none for the other passes.
inline int64_t conv2d_fprop_workspace_bytes(const Conv2dParams&) { return 0; }
inline int64_t conv2d_dgrad_workspace_bytes(const Conv2dParams&) { return 0; }
inline int64_t conv2d_bgrad_workspace_bytes(const Conv2dParams&) { return 0; }
inline int64_t conv2d_wgrad_workspace_bytes(const Conv2dParams& p) {
  const int32_t splits = conv2d_wgrad_splits(p);
  if (splits <= 1) return 0;
  return int64_t(splits) * p.K * p.R * p.S * p.C_per_group() * int64_t(sizeof(float));
}

// Which element of a BK x extent operand tile load j of thread tid copies (extent: BM for A, BN
// for B). along_k: consecutive threads take consecutive reduction indices of one row, so that an
// operand whose reduction index is its unit-stride axis (NHWC channels, NCHW columns) is read in
// whole sectors; otherwise consecutive threads take consecutive rows. The kernel computes a row's
// gather state once, in slot load_slot(j) of a small per-thread table.
FASTCONV_HOST_DEVICE void tile_load_coord(int32_t extent, int32_t bk, int32_t threads, bool along_k, int32_t tid,
                                          int32_t j, int32_t& index, int32_t& kl) {
  const int32_t e = tid + j * threads;
  if (along_k) {
    index = e / bk;
    kl = e % bk;
  } else {
    index = e % extent;
    kl = e / extent;
  }
}
// Distinct rows among a thread's loads: every load has its own row along k; along rows, the loads
// of a thread repeat every extent / threads (or share one row when threads is a multiple of extent).
FASTCONV_HOST_DEVICE constexpr int32_t tile_load_slots(int32_t extent, int32_t bk, int32_t threads, bool along_k) {
  return along_k ? extent * bk / threads : (threads % extent == 0 ? 1 : extent / threads);
}
FASTCONV_HOST_DEVICE constexpr int32_t tile_load_slot(int32_t j, int32_t slots) { return j % slots; }

// Which of a thread's 8 rows (or columns) is fragment element i: two 4-wide runs, half a tile apart,
// so that the warp's shared-memory reads are 16-byte vectors without bank conflicts.
FASTCONV_HOST_DEVICE int32_t fragment_index(int32_t tile_extent, int32_t thread_coord, int32_t i) {
  return (i < 4 ? 0 : tile_extent / 2) + thread_coord * 4 + (i & 3);
}

}  // namespace conv_index
}  // namespace fastconv
