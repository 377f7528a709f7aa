// Portable pooling microkernels: one lane, what every CPU runs when no vector path applies (and
// aarch64 until it has NEON kernels). The same generic code as the vector ISAs, so the FASTCONV_ISA=scalar
// tests check its index arithmetic too.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "pool2d.h"

namespace fastconv {
namespace cpu {
namespace scalar {

namespace {

// Local helpers rather than std::min / std::max: no inline function of this ISA's code generation may
// be merged with another translation unit's copy by the linker.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a < b ? b : a; }

struct Simd {
  static constexpr int L = 1;
  using F = float;
  using I = int32_t;
  using M = bool;

  static M first(int64_t n) { return n > 0; }
  static M range(int64_t lo, int64_t hi) { return lo <= 0 && 0 < hi; }
  static F zero() { return 0.0f; }
  static F opaque_zero() {
    F z = 0.0f;
    __asm__("" : "+m"(z));
    return z;
  }
  static F set1(float v) { return v; }
  static I set1i(int32_t v) { return v; }
  static I iota() { return 0; }
  static I addi(I a, I b) { return a + b; }
  static I srli1(I a) { return a >> 1; }
  static I and1(I a) { return a & 1; }
  static I muli(I a, int32_t s) { return a * s; }

  static F load(const float* p) { return *p; }
  static F load(const float* p, M m) { return m ? *p : 0.0f; }
  static F load_or(const float* p, M m, float fill) { return m ? *p : fill; }
  static I loadi(const int32_t* p) { return *p; }
  static I loadi(const int32_t* p, M m) { return m ? *p : 0; }
  static F load_s2(const float* p) { return *p; }
  static F load_s2(const float* p, int64_t n) { return *p; }
  static F odd(F, F hi) { return hi; }
  static F interleave_lo(F a, F) { return a; }
  static F interleave_hi(F, F b) { return b; }
  static int64_t narrow(const int64_t*, int64_t, int64_t, int32_t*, int64_t& i) {
    i = 0;
    return 0;
  }
  static F gather(const float* p, I off) { return p[off]; }
  static F gather(const float* p, I off, M m) { return m ? p[off] : 0.0f; }
  static F gather_or(const float* p, I off, M m, float fill) { return m ? p[off] : fill; }
  static F even(F lo, F) { return lo; }
  static F permute(F v, I) { return v; }
  static I permutei(I v, I) { return v; }

  static M gt(F a, F b) { return a > b; }
  static M eq(F a, F b) { return a == b; }
  static M isnan(F a) { return __builtin_isnan(a); }
  static M eqi(I a, I b) { return a == b; }
  static M mask_of(I v) { return v != 0; }
  static M and_(M a, M b) { return a && b; }
  static M or_(M a, M b) { return a || b; }
  static bool any(M m) { return m; }

  static F max(F v, F best) { return v > best ? v : best; }
  static F sel(M m, F t, F f) { return m ? t : f; }
  static I seli(M m, I t, I f) { return m ? t : f; }
  static F add(F a, F b) { return a + b; }
  static F add_if(M m, F acc, F v) { return m ? acc + v : acc; }
  static F div(F a, F b) { return a / b; }
  static I inc_if(M m, I c) { return m ? c + 1 : c; }
  static int64_t sumi(I c) { return c; }

  static void store(float* p, F v) { *p = v; }
  static void store(float* p, F v, M m) {
    if (m) *p = v;
  }
  static void storei(int32_t* p, I v) { *p = v; }
  static void storei(int32_t* p, I v, M m) {
    if (m) *p = v;
  }
  static void store_i64(int64_t* p, I v) { *p = v; }
  static void store_i64(int64_t* p, I v, int64_t n) {
    if (n > 0) *p = v;
  }
};

}  // namespace

#include "pool2d_generic.inc"

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
