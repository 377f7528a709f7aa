// AVX-512 depthwise convolution loops (dwconv.h): 16 floats or 8 doubles per zmm, tails under a
// lane mask (masked loads never touch memory past the range). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mfma, called only where the CPU has them (isa.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "dwconv.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

namespace {

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using reg = __m512;
  static constexpr int L = 16;
  static constexpr int kGridVectors = 4, kGridRows = 4, kChanPixels = 4;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static void keep(reg& v) { asm("" : "+v"(v)); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg loadn(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  using mask_t = __mmask16;
  static mask_t window(int lo, int hi) { return lo < hi ? static_cast<__mmask16>(mask(hi) & ~mask(lo)) : 0; }
  static reg loadm(const float* p, mask_t m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static void storen(float* p, reg v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(reg v) {
    alignas(64) float lanes[L];
    _mm512_store_ps(lanes, v);
    float s = lanes[0];
    for (int i = 1; i < L; ++i) s += lanes[i];
    return s;
  }
};

template <>
struct Vec<double> {
  using reg = __m512d;
  static constexpr int L = 8;
  static constexpr int kGridVectors = 4, kGridRows = 4, kChanPixels = 4;
  static __mmask8 mask(int n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static void keep(reg& v) { asm("" : "+v"(v)); }
  static reg zero() { return _mm512_setzero_pd(); }
  static reg set1(double x) { return _mm512_set1_pd(x); }
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static reg loadn(const double* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  using mask_t = __mmask8;
  static mask_t window(int lo, int hi) { return lo < hi ? static_cast<__mmask8>(mask(hi) & ~mask(lo)) : 0; }
  static reg loadm(const double* p, mask_t m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, reg v) { _mm512_storeu_pd(p, v); }
  static void stream(double* p, reg v) { _mm512_stream_pd(p, v); }
  static void fence() { _mm_sfence(); }
  static void storen(double* p, reg v, int n) { _mm512_mask_storeu_pd(p, mask(n), v); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static double hsum(reg v) {
    alignas(64) double lanes[L];
    _mm512_store_pd(lanes, v);
    double s = lanes[0];
    for (int i = 1; i < L; ++i) s += lanes[i];
    return s;
  }
};

}  // namespace

#include "dwconv_generic.inc"

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
