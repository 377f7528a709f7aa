// AVX-512 pooling microkernels: 16 float lanes, k-register masks for tails. Compiled with
// -mavx512f -mavx512bw -mavx512vl, called only where the CPU has them (pool2d_dispatch.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "pool2d.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

namespace {

// Local helpers rather than std::min / std::max: no inline function of this ISA's code generation may
// be merged with another translation unit's copy by the linker.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a < b ? b : a; }

struct Simd {
  static constexpr int L = 16;
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;

  static M first(int64_t n) { return n >= 16 ? M(0xFFFF) : n <= 0 ? M(0) : M((1u << n) - 1u); }
  static M range(int64_t lo, int64_t hi) { return M(first(hi) & ~first(lo)); }
  static F zero() { return _mm512_setzero_ps(); }
  static F opaque_zero() {
    F z = _mm512_setzero_ps();
    __asm__("" : "+v"(z));
    return z;
  }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static I set1i(int32_t v) { return _mm512_set1_epi32(v); }
  static I iota() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
  static I addi(I a, I b) { return _mm512_add_epi32(a, b); }
  static I srli1(I a) { return _mm512_srli_epi32(a, 1); }
  static I and1(I a) { return _mm512_and_si512(a, _mm512_set1_epi32(1)); }
  static I muli(I a, int32_t s) { return _mm512_mullo_epi32(a, _mm512_set1_epi32(s)); }

  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F load(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static F load_or(const float* p, M m, float fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), m, p); }
  static I loadi(const int32_t* p) { return _mm512_loadu_si512(p); }
  static I loadi(const int32_t* p, M m) { return _mm512_maskz_loadu_epi32(m, p); }
  // p[0], p[2], ..., p[30]
  static F load_s2(const float* p) { return even(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16)); }
  // The first n lanes of load_s2, reading only p[0 .. 2n - 2].
  static F load_s2(const float* p, int64_t n) {
    const int64_t need = 2 * n - 1;
    return even(_mm512_maskz_loadu_ps(first(imin(need, 16)), p),
                _mm512_maskz_loadu_ps(first(imax(need - 16, 0)), p + 16));
  }
  static F even(F lo, F hi) {
    const I sel = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(lo, sel, hi);
  }
  static F odd(F lo, F hi) {
    const I sel = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_permutex2var_ps(lo, sel, hi);
  }
  // a0 b0 a1 b1 ... a7 b7 and a8 b8 ... a15 b15
  static F interleave_lo(F a, F b) {
    const I sel = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    return _mm512_permutex2var_ps(a, sel, b);
  }
  static F interleave_hi(F a, F b) {
    const I sel = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    return _mm512_permutex2var_ps(a, sel, b);
  }
  // Narrows src[i] in whole vectors, to int32, -1 outside [0, plane); i: how far it got.
  static int64_t narrow(const int64_t* src, int64_t n, int64_t plane, int32_t* dst, int64_t& i) {
    const __m512i lim = _mm512_set1_epi64(plane), minus1 = _mm512_set1_epi64(-1);
    __m512i count = _mm512_setzero_si512();
    for (i = 0; i + 8 <= n; i += 8) {
      const __m512i v = _mm512_loadu_si512(src + i);
      const __mmask8 in = _mm512_cmplt_epu64_mask(v, lim);
      const __m256i narrow = _mm512_cvtepi64_epi32(_mm512_mask_blend_epi64(in, minus1, v));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), narrow);
      count = _mm512_mask_add_epi64(count, in, count, _mm512_set1_epi64(1));
    }
    return _mm512_reduce_add_epi64(count);
  }
  static F gather(const float* p, I off) { return _mm512_i32gather_ps(off, p, 4); }
  static F gather(const float* p, I off, M m) { return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, off, p, 4); }
  static F gather_or(const float* p, I off, M m, float fill) {
    return _mm512_mask_i32gather_ps(_mm512_set1_ps(fill), m, off, p, 4);
  }
  static F permute(F v, I at) { return _mm512_permutexvar_ps(at, v); }
  static I permutei(I v, I at) { return _mm512_permutexvar_epi32(at, v); }

  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M isnan(F a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static M eqi(I a, I b) { return _mm512_cmpeq_epi32_mask(a, b); }
  static M mask_of(I v) { return _mm512_test_epi32_mask(v, v); }
  static M and_(M a, M b) { return M(a & b); }
  static M or_(M a, M b) { return M(a | b); }
  static bool any(M m) { return m != 0; }

  static F max(F v, F best) { return _mm512_max_ps(v, best); }  // v > best ? v : best
  static F sel(M m, F t, F f) { return _mm512_mask_blend_ps(m, f, t); }
  static I seli(M m, I t, I f) { return _mm512_mask_blend_epi32(m, f, t); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F add_if(M m, F acc, F v) { return _mm512_mask_add_ps(acc, m, acc, v); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static I inc_if(M m, I c) { return _mm512_mask_add_epi32(c, m, c, _mm512_set1_epi32(1)); }
  static int64_t sumi(I c) { return _mm512_reduce_add_epi32(c); }

  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, F v, M m) { _mm512_mask_storeu_ps(p, m, v); }
  static void storei(int32_t* p, I v) { _mm512_storeu_si512(p, v); }
  static void storei(int32_t* p, I v, M m) { _mm512_mask_storeu_epi32(p, m, v); }
  static void store_i64(int64_t* p, I v) {
    _mm512_storeu_si512(p, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)));
    _mm512_storeu_si512(p + 8, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
  }
  static void store_i64(int64_t* p, I v, int64_t n) {
    const __mmask8 lo = __mmask8(first(imin(n, 8))), hi = __mmask8(first(imax(n - 8, 0)));
    _mm512_mask_storeu_epi64(p, lo, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)));
    _mm512_mask_storeu_epi64(p + 8, hi, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
  }
};

}  // namespace

#include "pool2d_generic.inc"

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
