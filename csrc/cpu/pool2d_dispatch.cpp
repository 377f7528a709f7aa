// Routes the pooling microkernels to the selected ISA (isa.h), chosen once per process, and builds
// the small tables the kernels take (they do not depend on the ISA).
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
