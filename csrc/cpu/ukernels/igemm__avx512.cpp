// Indirect GEMM for the AVX-512 path: 6 output pixels x 64 output channels in 24 zmm accumulators
// (x 32 in 12 when a block has at most 32 channels); per input channel, 4 loads of B, 6 broadcasts
// from the pixels' pointers, 24 FMAs. B (a block's filters: 147 KB for 64 input channels and 3x3
// taps) streams from L2; the input vectors come from L1 when a_next prefetched them.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "igemm.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#define FASTCONV_IGEMM_OWN_F32
#include "igemm_generic.inc"
#undef FASTCONV_IGEMM_OWN_F32

namespace {

// NV vectors of 16 output channels (NV = 4: 64 channels, NV = 2: 32).
template <int NV>
inline void igemm_6xNV_sums(int64_t taps, int64_t Cg, const float* const* a, const float* B,
                            const float* const* a_next, __m512 (&acc)[6][NV]) {
  for (int i = 0; i < 6; ++i)
    for (int n = 0; n < NV; ++n) acc[i][n] = _mm512_setzero_ps();
  for (int64_t tap = 0; tap < taps; ++tap) {
    // One tap's prefetches (6 vectors of Cg values) among its 24 * Cg FMAs.
    if (a_next)
      for (int i = 0; i < 6; ++i) {
        const char* next = reinterpret_cast<const char*>(a_next[tap * 6 + i]);
        for (int64_t line = 0; line < Cg * 4; line += 64) _mm_prefetch(next + line, _MM_HINT_T0);
      }
    const float* a0 = a[tap * 6 + 0];
    const float* a1 = a[tap * 6 + 1];
    const float* a2 = a[tap * 6 + 2];
    const float* a3 = a[tap * 6 + 3];
    const float* a4 = a[tap * 6 + 4];
    const float* a5 = a[tap * 6 + 5];
    const float* b = B + tap * Cg * kIgemmCols;
    for (int64_t c = 0; c < Cg; ++c, b += kIgemmCols) {
      __m512 bv[NV];
      for (int n = 0; n < NV; ++n) bv[n] = _mm512_loadu_ps(b + 16 * n);
#define FASTCONV_IGEMM_ROW(i, ai_ptr)                                                     \
  {                                                                                      \
    const __m512 ai = _mm512_set1_ps(ai_ptr[c]);                                         \
    for (int n = 0; n < NV; ++n) acc[i][n] = _mm512_fmadd_ps(ai, bv[n], acc[i][n]);      \
  }
      FASTCONV_IGEMM_ROW(0, a0)
      FASTCONV_IGEMM_ROW(1, a1)
      FASTCONV_IGEMM_ROW(2, a2)
      FASTCONV_IGEMM_ROW(3, a3)
      FASTCONV_IGEMM_ROW(4, a4)
      FASTCONV_IGEMM_ROW(5, a5)
#undef FASTCONV_IGEMM_ROW
    }
  }
}

template <int NV>
void igemm_6xNV(int64_t rows, int64_t taps, int64_t Cg, const float* const* a, const float* B, float* C, int64_t ldc,
                const float* const* a_next) {
  __m512 acc[6][NV];
  igemm_6xNV_sums<NV>(taps, Cg, a, B, a_next, acc);
  for (int64_t i = 0; i < rows; ++i)
    for (int n = 0; n < NV; ++n) _mm512_storeu_ps(C + i * ldc + 16 * n, acc[i][n]);
}

// Stores of the first `cols` channels of each row, bias added after the sum. Full 64-channel rows
// on 64-byte boundaries go out as non-temporal stores when asked (igemm.h, stream).
template <int NV>
void igemm_6xNV_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                     float* const* out, const float* bias, const float* const* a_next, bool stream) {
  __m512 acc[6][NV];
  igemm_6xNV_sums<NV>(taps, Cg, a, B, a_next, acc);
  if (NV == 4 && stream && cols == kIgemmCols) {
    uintptr_t misaligned = 0;
    for (int64_t i = 0; i < rows; ++i) misaligned |= reinterpret_cast<uintptr_t>(out[i]);
    if ((misaligned & 63) == 0) {
      __m512 bv[NV];
      for (int n = 0; n < NV; ++n) bv[n] = bias ? _mm512_loadu_ps(bias + 16 * n) : _mm512_setzero_ps();
      for (int64_t i = 0; i < rows; ++i)
        for (int n = 0; n < NV; ++n) _mm512_stream_ps(out[i] + 16 * n, bias ? _mm512_add_ps(acc[i][n], bv[n]) : acc[i][n]);
      return;
    }
  }
  __mmask16 mask[NV];
  __m512 bv[NV];
  for (int n = 0; n < NV; ++n) {
    const int64_t lanes = std::min<int64_t>(16, std::max<int64_t>(0, cols - 16 * n));
    mask[n] = static_cast<__mmask16>((1u << lanes) - 1u);
    bv[n] = bias ? _mm512_maskz_loadu_ps(mask[n], bias + 16 * n) : _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int n = 0; n < NV; ++n) {
      const __m512 v = bias ? _mm512_add_ps(acc[i][n], bv[n]) : acc[i][n];
      _mm512_mask_storeu_ps(out[i] + 16 * n, mask[n], v);
    }
}

// Each 16-channel piece added into its output where the accumulators lie (igemm.h, igemm_6x64_add).
template <int NV>
void igemm_6xNV_add(int64_t rows, int64_t Cg, const float* const* a, const float* B, float* const* out) {
  __m512 acc[6][NV];
  igemm_6xNV_sums<NV>(1, Cg, a, B, nullptr, acc);
  for (int64_t i = 0; i < rows; ++i)
    for (int n = 0; n < NV; ++n) {
      float* o = out[i * kIgemmAddPieces + n];
      if (o) _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), acc[i][n]));
    }
}

}  // namespace

void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const float* const* a, const float* B,
                    float* const* out) {
  if (cols <= 32)
    igemm_6xNV_add<2>(rows, Cg, a, B, out);
  else
    igemm_6xNV_add<4>(rows, Cg, a, B, out);
}

void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                float* C, int64_t ldc, const float* const* a_next) {
  if (cols <= 32)
    igemm_6xNV<2>(rows, taps, Cg, a, B, C, ldc, a_next);
  else
    igemm_6xNV<4>(rows, taps, Cg, a, B, C, ldc, a_next);
}

void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                     float* const* out, const float* bias, const float* const* a_next, bool stream) {
  if (cols <= 32)
    igemm_6xNV_rows<2>(rows, cols, taps, Cg, a, B, out, bias, a_next, stream);
  else
    igemm_6xNV_rows<4>(rows, cols, taps, Cg, a, B, out, bias, a_next, stream);
}

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
