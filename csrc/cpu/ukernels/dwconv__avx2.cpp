// AVX2 + FMA depthwise convolution loops (dwconv.h): 8 floats or 4 doubles per ymm, tails through
// vmaskmov (masked lanes are neither read nor written). Compiled with -mavx2 -mfma, called only
// where the CPU has them (isa.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "dwconv.h"

namespace fastconv {
namespace cpu {
namespace avx2 {

namespace {

// mask(n): the first n lanes on, read from a sliding window of the table.
alignas(32) const int32_t kMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
alignas(32) const int64_t kMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

template <typename T>
struct Vec;

template <>
struct Vec<float> {
  using reg = __m256;
  static constexpr int L = 8;
  static constexpr int kGridVectors = 2, kGridRows = 2, kChanPixels = 2;
  static __m256i mask(int n) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask32 + 8 - n)); }
  static void keep(reg& v) { asm("" : "+v"(v)); }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg loadn(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  using mask_t = __m256i;
  static mask_t window(int lo, int hi) { return lo < hi ? _mm256_andnot_si256(mask(lo), mask(hi)) : mask(0); }
  static reg loadm(const float* p, mask_t m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static void storen(float* p, reg v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(reg v) {
    alignas(32) float lanes[L];
    _mm256_store_ps(lanes, v);
    float s = lanes[0];
    for (int i = 1; i < L; ++i) s += lanes[i];
    return s;
  }
};

template <>
struct Vec<double> {
  using reg = __m256d;
  static constexpr int L = 4;
  static constexpr int kGridVectors = 2, kGridRows = 2, kChanPixels = 2;
  static __m256i mask(int n) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask64 + 4 - n)); }
  static void keep(reg& v) { asm("" : "+v"(v)); }
  static reg zero() { return _mm256_setzero_pd(); }
  static reg set1(double x) { return _mm256_set1_pd(x); }
  static reg load(const double* p) { return _mm256_loadu_pd(p); }
  static reg loadn(const double* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  using mask_t = __m256i;
  static mask_t window(int lo, int hi) { return lo < hi ? _mm256_andnot_si256(mask(lo), mask(hi)) : mask(0); }
  static reg loadm(const double* p, mask_t m) { return _mm256_maskload_pd(p, m); }
  static void store(double* p, reg v) { _mm256_storeu_pd(p, v); }
  static void stream(double* p, reg v) { _mm256_stream_pd(p, v); }
  static void fence() { _mm_sfence(); }
  static void storen(double* p, reg v, int n) { _mm256_maskstore_pd(p, mask(n), v); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static double hsum(reg v) {
    alignas(32) double lanes[L];
    _mm256_store_pd(lanes, v);
    double s = lanes[0];
    for (int i = 1; i < L; ++i) s += lanes[i];
    return s;
  }
};

}  // namespace

#include "dwconv_generic.inc"

}  // namespace avx2
}  // namespace cpu
}  // namespace fastconv
