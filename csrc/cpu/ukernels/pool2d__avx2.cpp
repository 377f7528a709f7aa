// AVX2 pooling microkernels: 8 float lanes, all-ones lanes as masks (vmaskmov for tails). Compiled
// with -mavx2 -mfma, called only where the CPU has them (pool2d_dispatch.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "pool2d.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

namespace {

// Local helpers rather than std::min / std::max: no inline function of this ISA's code generation may
// be merged with another translation unit's copy by the linker.
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a < b ? b : a; }

struct Simd {
  static constexpr int L = 8;
  using F = __m256;
  using I = __m256i;
  using M = __m256i;  // all ones in the selected lanes

  static I iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  static M first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(imax(-1, imin(n, 8)))),
                              iota());
  }
  static M range(int64_t lo, int64_t hi) { return _mm256_andnot_si256(first(lo), first(hi)); }
  static F zero() { return _mm256_setzero_ps(); }
  static F opaque_zero() {
    F z = _mm256_setzero_ps();
    __asm__("" : "+x"(z));
    return z;
  }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static I set1i(int32_t v) { return _mm256_set1_epi32(v); }
  static I addi(I a, I b) { return _mm256_add_epi32(a, b); }
  static I srli1(I a) { return _mm256_srli_epi32(a, 1); }
  static I and1(I a) { return _mm256_and_si256(a, _mm256_set1_epi32(1)); }
  static I muli(I a, int32_t s) { return _mm256_mullo_epi32(a, _mm256_set1_epi32(s)); }

  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load(const float* p, M m) { return _mm256_maskload_ps(p, m); }
  static F load_or(const float* p, M m, float fill) {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static I loadi(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I loadi(const int32_t* p, M m) { return _mm256_maskload_epi32(p, m); }
  // p[0], p[2], ..., p[14]
  static F load_s2(const float* p) { return even(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)); }
  static F load_s2(const float* p, int64_t n) {
    const int64_t need = 2 * n - 1;
    return even(_mm256_maskload_ps(p, first(imin(need, 8))),
                _mm256_maskload_ps(p + 8, first(imax(need - 8, 0))));
  }
  static F even(F lo, F hi) {
    // lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6, then 64-bit blocks (0, 2, 1, 3)
    const F t = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static F odd(F lo, F hi) {
    const F t = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // a0 b0 a1 b1 a2 b2 a3 b3 and a4 b4 ... a7 b7
  static F interleave_lo(F a, F b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x20);
  }
  static F interleave_hi(F a, F b) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b), 0x31);
  }
  // Narrows src[i] in whole vectors, to int32, -1 outside [0, plane); i: how far it got.
  static int64_t narrow(const int64_t* src, int64_t n, int64_t plane, int32_t* dst, int64_t& i) {
    const __m256i lim = _mm256_set1_epi64x(plane), minus1 = _mm256_set1_epi64x(-1);
    const __m256i low = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i count = _mm256_setzero_si256();
    for (i = 0; i + 4 <= n; i += 4) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
      const __m256i in = _mm256_and_si256(_mm256_cmpgt_epi64(v, minus1), _mm256_cmpgt_epi64(lim, v));
      const __m256i r = _mm256_permutevar8x32_epi32(_mm256_blendv_epi8(minus1, v, in), low);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(r));
      count = _mm256_sub_epi64(count, in);
    }
    alignas(32) int64_t t[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), count);
    return t[0] + t[1] + t[2] + t[3];
  }
  static F gather(const float* p, I off) { return _mm256_i32gather_ps(p, off, 4); }
  static F gather(const float* p, I off, M m) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, off, _mm256_castsi256_ps(m), 4);
  }
  static F gather_or(const float* p, I off, M m, float fill) {
    return _mm256_mask_i32gather_ps(_mm256_set1_ps(fill), p, off, _mm256_castsi256_ps(m), 4);
  }
  static F permute(F v, I at) { return _mm256_permutevar8x32_ps(v, at); }
  static I permutei(I v, I at) { return _mm256_permutevar8x32_epi32(v, at); }

  static M gt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
  static M eq(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
  static M isnan(F a) { return _mm256_castps_si256(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)); }
  static M eqi(I a, I b) { return _mm256_cmpeq_epi32(a, b); }
  static M mask_of(I v) {
    return _mm256_xor_si256(_mm256_cmpeq_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(-1));
  }
  static M and_(M a, M b) { return _mm256_and_si256(a, b); }
  static M or_(M a, M b) { return _mm256_or_si256(a, b); }
  static bool any(M m) { return !_mm256_testz_si256(m, m); }

  static F max(F v, F best) { return _mm256_max_ps(v, best); }  // v > best ? v : best
  static F sel(M m, F t, F f) { return _mm256_blendv_ps(f, t, _mm256_castsi256_ps(m)); }
  static I seli(M m, I t, I f) { return _mm256_blendv_epi8(f, t, m); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F add_if(M m, F acc, F v) { return sel(m, _mm256_add_ps(acc, v), acc); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static I inc_if(M m, I c) { return _mm256_sub_epi32(c, m); }
  static int64_t sumi(I c) {
    alignas(32) int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), c);
    int64_t s = 0;
    for (int i = 0; i < 8; ++i) s += t[i];
    return s;
  }

  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, F v, M m) { _mm256_maskstore_ps(p, m, v); }
  static void storei(int32_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static void storei(int32_t* p, I v, M m) { _mm256_maskstore_epi32(p, m, v); }
  static void store_i64(int64_t* p, I v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
  }
  static void store_i64(int64_t* p, I v, int64_t n) {
    alignas(32) int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), v);
    for (int64_t i = 0; i < n; ++i) p[i] = t[i];
  }
};

}  // namespace

#include "pool2d_generic.inc"

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
