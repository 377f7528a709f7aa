// Routes the pooling microkernels to the selected ISA (isa.h), chosen once per process, and builds
// the planar gather tables that do not depend on the ISA's code.
#include <algorithm>

#include "isa.h"
#include "ukernels/pool2d.h"

namespace fastconv {
namespace cpu {

const Pool2dKernels& pool2d_kernels() {
  static const Pool2dKernels* k = [] {
    switch (selected_isa()) {
#ifdef FASTCONV_HAVE_AVX512
      case Isa::avx512: return &avx512::pool2d_kernels();
#endif
#ifdef FASTCONV_HAVE_AVX2
      case Isa::avx2: return &avx2::pool2d_kernels();
#endif
      default: return &scalar::pool2d_kernels();
    }
  }();
  return *k;
}

namespace {
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
}  // namespace

// Lanes w0 + i (w0 a multiple of `lanes`, so of sw) are covered by outputs B + floor((r0 + i) / sw) - t,
// t < J, with B = floor((w0 + pw) / sw) and r0 = pw mod sw; the segment read starts at B - (J - 1).
bool pool2d_gather_tables(int lanes, int64_t kw, int64_t sw, int64_t pw, int64_t J, int32_t* perm, int32_t* cover) {
  if (sw <= 1 || lanes % sw != 0 || lanes / sw + J > lanes) return false;
  const int64_t r0 = pw % sw;
  for (int64_t j = 0; j < J; ++j)
    for (int64_t i = 0; i < lanes; ++i) {
      const int64_t hi = floor_div(r0 + i, sw);
      perm[j * lanes + i] = static_cast<int32_t>(hi + j);
      cover[j * lanes + i] = hi - (J - 1 - j) >= ceil_div(r0 + i - kw + 1, sw) ? -1 : 0;
    }
  return true;
}

void pool_tap_table(int64_t W, int64_t Q, int64_t kw, int64_t sw, int64_t pw, int64_t dw, int32_t* out) {
  for (int64_t q = 0; q < Q; ++q) {
    const int64_t start = q * sw - pw;
    int64_t lo = start >= 0 ? 0 : (-start + dw - 1) / dw;
    int64_t hi = start >= W ? 0 : std::min(kw, (W - 1 - start) / dw + 1);
    if (hi < lo) hi = lo;
    out[2 * q] = static_cast<int32_t>(lo);
    out[2 * q + 1] = static_cast<int32_t>(hi);
  }
}

void planar_tap_offsets(int64_t kw, int64_t sw, int64_t pw, int64_t dw, int64_t phase_len, int64_t* tap_off) {
  for (int64_t s = 0; s < kw; ++s) {
    const int64_t c = s * dw - pw;
    const int64_t phase = c - floor_div(c, sw) * sw;
    tap_off[s] = phase * phase_len + floor_div(c, sw);
  }
}

void pool_cover_table(int64_t W, int64_t Q, int64_t kw, int64_t sw, int64_t pw, int32_t* out) {
  for (int64_t w = 0; w < W; ++w) {
    out[2 * w] = static_cast<int32_t>(std::max<int64_t>(0, ceil_div(w + pw - kw + 1, sw)));
    out[2 * w + 1] = static_cast<int32_t>(std::min<int64_t>(Q - 1, floor_div(w + pw, sw)));
  }
}

}  // namespace cpu
}  // namespace fastconv
