// Portable depthwise convolution loops (dwconv.h): one lane, what every CPU runs when no vector
// path applies (and aarch64 until it has NEON loops).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "dwconv.h"

namespace fastconv {
namespace cpu {
namespace scalar {

namespace {

template <typename T>
struct Vec {
  using reg = T;
  static constexpr int L = 1;
  static constexpr int kGridVectors = 2, kGridRows = 2, kChanPixels = 2;
  static void keep(reg&) {}
  static reg zero() { return T(0); }
  static reg set1(T x) { return x; }
  static reg load(const T* p) { return *p; }
  static reg loadn(const T* p, int) { return *p; }  // never called: one lane has no tail
  using mask_t = bool;
  static mask_t window(int lo, int hi) { return lo < hi; }
  static reg loadm(const T* p, mask_t m) { return m ? *p : T(0); }
  static void store(T* p, reg v) { *p = v; }
  static void stream(T* p, reg v) { *p = v; }  // no non-temporal stores here
  static void fence() {}
  static void storen(T* p, reg v, int) { *p = v; }
  static reg add(reg a, reg b) { return a + b; }
  static reg fma(reg a, reg b, reg c) { return a * b + c; }
  static T hsum(reg v) { return v; }
};

}  // namespace

#include "dwconv_generic.inc"

}  // namespace scalar
}  // namespace cpu
}  // namespace fastconv
