// Reduction GEMM for the AVX-512 path (see gemm_nt.h): a 4 x 4 block of C in 16 zmm accumulators,
// one 16-lane step of t per iteration (8 loads, 16 FMAs). float64 uses the portable loops.
#include <immintrin.h>

#include "gemm_nt.h"

namespace fastconv {
namespace cpu {
namespace avx512 {

#define FASTCONV_GEMM_NT_OWN_F32
#include "gemm_nt_generic.inc"
#undef FASTCONV_GEMM_NT_OWN_F32

namespace {

// The same fixed lane order as sum_lanes in gemm_nt_generic.inc.
inline float sum16(__m512 v) {
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

}  // namespace

void gemm_nt(int64_t M, int64_t N, int64_t T, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc) {
  for (int64_t m0 = 0; m0 < M; m0 += kNtRows)
    for (int64_t n0 = 0; n0 < N; n0 += kNtRows) {
      __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
             c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
      const float* a0 = A + m0 * lda;
      const float* a1 = a0 + lda;
      const float* a2 = a1 + lda;
      const float* a3 = a2 + lda;
      const float* b0 = B + n0 * ldb;
      const float* b1 = b0 + ldb;
      const float* b2 = b1 + ldb;
      const float* b3 = b2 + ldb;
      for (int64_t t = 0; t < T; t += kNtLanes) {
        const __m512 va0 = _mm512_loadu_ps(a0 + t), va1 = _mm512_loadu_ps(a1 + t), va2 = _mm512_loadu_ps(a2 + t),
                     va3 = _mm512_loadu_ps(a3 + t);
        const __m512 vb0 = _mm512_loadu_ps(b0 + t), vb1 = _mm512_loadu_ps(b1 + t), vb2 = _mm512_loadu_ps(b2 + t),
                     vb3 = _mm512_loadu_ps(b3 + t);
        c00 = _mm512_fmadd_ps(va0, vb0, c00), c01 = _mm512_fmadd_ps(va0, vb1, c01);
        c02 = _mm512_fmadd_ps(va0, vb2, c02), c03 = _mm512_fmadd_ps(va0, vb3, c03);
        c10 = _mm512_fmadd_ps(va1, vb0, c10), c11 = _mm512_fmadd_ps(va1, vb1, c11);
        c12 = _mm512_fmadd_ps(va1, vb2, c12), c13 = _mm512_fmadd_ps(va1, vb3, c13);
        c20 = _mm512_fmadd_ps(va2, vb0, c20), c21 = _mm512_fmadd_ps(va2, vb1, c21);
        c22 = _mm512_fmadd_ps(va2, vb2, c22), c23 = _mm512_fmadd_ps(va2, vb3, c23);
        c30 = _mm512_fmadd_ps(va3, vb0, c30), c31 = _mm512_fmadd_ps(va3, vb1, c31);
        c32 = _mm512_fmadd_ps(va3, vb2, c32), c33 = _mm512_fmadd_ps(va3, vb3, c33);
      }
      float* c = C + m0 * ldc + n0;
      c[0] = sum16(c00), c[1] = sum16(c01), c[2] = sum16(c02), c[3] = sum16(c03);
      c += ldc;
      c[0] = sum16(c10), c[1] = sum16(c11), c[2] = sum16(c12), c[3] = sum16(c13);
      c += ldc;
      c[0] = sum16(c20), c[1] = sum16(c21), c[2] = sum16(c22), c[3] = sum16(c23);
      c += ldc;
      c[0] = sum16(c30), c[1] = sum16(c31), c[2] = sum16(c32), c[3] = sum16(c33);
    }
}

}  // namespace avx512
}  // namespace cpu
}  // namespace fastconv
