// Building blocks shared by the conv2d passes: pixel tiles cut into row runs, gathers of one filter
// tap over a tile, and the tile GEMM (ukernels/gemm.h). Each pass gathers a tile of its operand into
// a small contiguous buffer (never a whole-batch im2col) and multiplies it with packed weights.
// Tile sizes are fixed, not derived from the thread count, so every reduction runs in the same
// order whatever the number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastconv/conv.h"
#include "ukernels/gemm.h"

// The per-element loops of the passes' inner tasks: inlined into each task whatever the link-time
// optimiser's global growth limits decide elsewhere (a change in an unrelated file once cost the
// planar stem forward 10 % that way).
#if defined(__GNUC__)
#define FASTCONV_HOT_INLINE inline __attribute__((always_inline))
#else
#define FASTCONV_HOT_INLINE inline
#endif

namespace fastconv {
namespace cpu {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The taps (0 <= r < R) that reach input coordinates congruent to `phase` modulo `stride` in a
// strided convolution's backward-data: (phase + pad - r * dilation) divisible by stride.
inline std::vector<int64_t> stride_phase_taps(int64_t phase, int64_t R, int64_t stride, int64_t pad,
                                              int64_t dilation) {
  std::vector<int64_t> taps;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t m = ((phase + pad - r * dilation) % stride + stride) % stride;
    if (m == 0) taps.push_back(r);
  }
  return taps;
}

// Consecutive pixels of one grid row: tile positions [t0, t0 + len) are pixels (n, row, col0 + i).
// Offsets in w of the columns j = (c, r, s) of a filter, c slowest: computed once per call so
// that packing loops over (k, j) do no divisions.
inline std::vector<int64_t> filter_offsets(const Conv2dParams& p) {
  std::vector<int64_t> at;
  at.reserve(static_cast<size_t>(p.C_per_group() * p.R * p.S));
  for (int64_t c = 0; c < p.C_per_group(); ++c)
    for (int64_t r = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) at.push_back(c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]);
  return at;
}

// Copy of a few dozen values (a pixel's channels): fixed-size blocks that compile to vector moves,
// where std::copy would pay a library call per pixel.
template <typename T>
inline void copy_short(const T* src, int64_t len, T* dst) {
  constexpr int64_t kBlock = 64 / sizeof(T);
  int64_t i = 0;
  for (; i + kBlock <= len; i += kBlock)
    for (int64_t k = 0; k < kBlock; ++k) dst[i + k] = src[i + k];
  for (; i < len; ++i) dst[i] = src[i];
}

struct PixelRun {
  int64_t t0, len, n, row, col0;
};

// Cuts pixels [pix0, pix0 + count) of a batch of rows x cols grids (row-major over (n, row, col))
// into row runs. Small images share a tile instead of leaving most of it empty.
inline void split_runs(int64_t pix0, int64_t count, int64_t rows, int64_t cols, std::vector<PixelRun>& runs) {
  runs.clear();
  const int64_t per_image = rows * cols;
  for (int64_t t = 0; t < count;) {
    const int64_t pix = pix0 + t, n = pix / per_image, rc = pix % per_image, row = rc / cols, col = rc % cols;
    const int64_t len = std::min(cols - col, count - t);
    runs.push_back({t, len, n, row, col});
    t += len;
  }
}

// Where one filter tap reads: for grid pixel (row, col) the input element is
// (row * row_step + row_shift, col * col_step + col_shift) of an in_rows x in_cols plane with
// element strides (n, h, w); outside the plane reads as zero.
struct TapMap {
  int64_t row_step, row_shift, col_step, col_shift;
  int64_t in_rows, in_cols;
  int64_t stride_n, stride_h, stride_w;
};

// dst[t] for t < width: the tap's input value for tile pixel t, 0 in the padding and past the runs.
// Along a run the reads advance by col_step * stride_w elements: a plain copy for unit stride.
template <typename T>
FASTCONV_HOT_INLINE void gather_tap(const T* plane, const std::vector<PixelRun>& runs, int64_t width, const TapMap& m,
                                    T* dst) {
  int64_t filled = 0;
  for (const PixelRun& run : runs) {
    T* d = dst + run.t0;
    const int64_t h = run.row * m.row_step + m.row_shift;
    if (h < 0 || h >= m.in_rows) {
      std::fill(d, d + run.len, T(0));
      filled = run.t0 + run.len;
      continue;
    }
    // Valid i: 0 <= (col0 + i) * col_step + col_shift < in_cols.
    int64_t lo, hi;
    if (m.col_step == 1) {
      lo = std::clamp(-m.col_shift - run.col0, int64_t(0), run.len);
      hi = std::clamp(m.in_cols - m.col_shift - run.col0, lo, run.len);
    } else {
      lo = std::clamp(-floor_div(m.col_shift, m.col_step) - run.col0, int64_t(0), run.len);
      hi = std::clamp(floor_div(m.in_cols - 1 - m.col_shift, m.col_step) - run.col0 + 1, lo, run.len);
    }
    for (int64_t i = 0; i < lo; ++i) d[i] = T(0);
    if (hi > lo) {
      const int64_t step = m.col_step * m.stride_w;
      const T* s = plane + run.n * m.stride_n + h * m.stride_h + ((run.col0 + lo) * m.col_step + m.col_shift) * m.stride_w;
      if (step == 1) {
        for (int64_t i = lo; i < hi; ++i) d[i] = s[i - lo];
      } else {
        for (int64_t i = lo; i < hi; ++i, s += step) d[i] = *s;
      }
    }
    for (int64_t i = hi; i < run.len; ++i) d[i] = T(0);
    filled = run.t0 + run.len;
  }
  std::fill(dst + filled, dst + width, T(0));
}

// The element offset of each run's first pixel in an output plane with strides (n, h, w), the
// pixel at (row * row_step + row_shift, col * col_step + col_shift); consecutive pixels of a run are
// col_step * stride_w apart.
struct OutMap {
  int64_t row_step, row_shift, col_step, col_shift;
  int64_t stride_n, stride_h, stride_w;
  int64_t run_start(const PixelRun& run) const {
    return run.n * stride_n + (run.row * row_step + row_shift) * stride_h + (run.col0 * col_step + col_shift) * stride_w;
  }
  int64_t step() const { return col_step * stride_w; }
};

// dst plane [out pixels of the runs] = src[t] (+ bias).
template <typename T>
FASTCONV_HOT_INLINE void scatter_runs(const T* src, const std::vector<PixelRun>& runs, const OutMap& m, T bias,
                                      T* plane) {
  const int64_t step = m.step();
  for (const PixelRun& run : runs) {
    T* d = plane + m.run_start(run);
    const T* s = src + run.t0;
    if (step == 1) {
      for (int64_t i = 0; i < run.len; ++i) d[i] = s[i] + bias;
    } else {
      for (int64_t i = 0; i < run.len; ++i) d[i * step] = s[i] + bias;
    }
  }
}

// A channels-last copy of a (N, C, H, W) tensor with any strides: dst[((n * H + h) * W + w) * C + c].
// `strides` are (n, c, h, w) element strides. Parallel over (n, h) rows.
template <typename T>
void copy_to_channels_last(const T* src, int64_t N, int64_t C, int64_t H, int64_t W, const int64_t* strides,
                           T* dst);

}  // namespace cpu
}  // namespace fastconv

#include <type_traits>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "parallel.h"

namespace fastconv {
namespace cpu {

#if defined(__SSE__)
// dst[v * ldd + c] = src[c * lds + v] for the 4 x 4 block at (c, v) of a 16 x 16 one, with ordinary
// or non-temporal stores.
template <bool Stream>
inline void transpose_4x4_block(const float* src, int64_t lds, float* dst, int64_t ldd, int64_t c, int64_t v) {
  const float* s = src + c * lds + v;
  __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + lds), r2 = _mm_loadu_ps(s + 2 * lds), r3 = _mm_loadu_ps(s + 3 * lds);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  float* d = dst + v * ldd + c;
  if constexpr (Stream) {
    _mm_stream_ps(d, r0), _mm_stream_ps(d + ldd, r1), _mm_stream_ps(d + 2 * ldd, r2), _mm_stream_ps(d + 3 * ldd, r3);
  } else {
    _mm_storeu_ps(d, r0), _mm_storeu_ps(d + ldd, r1), _mm_storeu_ps(d + 2 * ldd, r2), _mm_storeu_ps(d + 3 * ldd, r3);
  }
}
#endif

// dst[v * ldd + c] = src[c * lds + v] for a 16 x 16 block of floats, in 4 x 4 register transposes
// (SSE, which every x86-64 CPU has); false where not available, for the caller's element loop.
template <typename T>
inline bool transpose_16x16(const T* src, int64_t lds, T* dst, int64_t ldd) {
#if defined(__SSE__)
  if constexpr (std::is_same<T, float>::value) {
    for (int64_t c = 0; c < 16; c += 4)
      for (int64_t v = 0; v < 16; v += 4) transpose_4x4_block<false>(src, lds, dst, ldd, c, v);
    return true;
  }
#endif
  (void)src, (void)lds, (void)dst, (void)ldd;
  return false;
}

// transpose_16x16 with non-temporal stores, for outputs too large to stay in cache: each line of dst
// goes to memory whole instead of being read in first (half the memory traffic of a large
// channels-last output). Needs dst and ldd aligned to 4 floats; false where not (or not available),
// for the caller's ordinary path. Pixel by pixel (v outer), so that each line of 16 values is
// completed by 4 consecutive stores while the write-combining buffer holds it. The caller ends its
// task with store_fence().
template <typename T>
inline bool transpose_16x16_stream(const T* src, int64_t lds, T* dst, int64_t ldd) {
#if defined(__SSE__)
  if constexpr (std::is_same<T, float>::value) {
    if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 || ldd % 4 != 0) return false;
    for (int64_t v = 0; v < 16; v += 4)
      for (int64_t c = 0; c < 16; c += 4) transpose_4x4_block<true>(src, lds, dst, ldd, c, v);
    return true;
  }
#endif
  (void)src, (void)lds, (void)dst, (void)ldd;
  return false;
}

// Orders the non-temporal stores of a task (these helpers', the igemm kernels' with `stream`)
// before whatever the thread does next (the pool's hand-back).
inline void store_fence() {
#if defined(__SSE__)
  _mm_sfence();
#endif
}

// dst[0 .. count) = src[0 .. count), or zeros where src is null, with non-temporal stores from dst's
// first 16-byte boundary where available: the lines go to memory without being read in first (for
// spans that nothing reads again soon). The caller ends its task with store_fence().
template <typename T>
inline void stream_span(const T* src, int64_t count, T* dst) {
#if defined(__SSE__)
  if constexpr (std::is_same<T, float>::value) {
    int64_t i = 0;
    for (; i < count && (reinterpret_cast<uintptr_t>(dst + i) & 15) != 0; ++i) dst[i] = src ? src[i] : 0.0f;
    if (src)
      for (; i + 4 <= count; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
    else
      for (; i + 4 <= count; i += 4) _mm_stream_ps(dst + i, _mm_setzero_ps());
    for (; i < count; ++i) dst[i] = src ? src[i] : 0.0f;
    return;
  }
#endif
  if (src)
    std::copy(src, src + count, dst);
  else
    std::fill_n(dst, count, T(0));
}

// dst[v * ldd + c] = src[c * lds + v] + bias[v * bias_stride] (no addition when bias is null) for a
// 16 x 16 block: a channels-last tile of outputs stored to 16 channel planes. The sum is the one an
// element loop makes (the same bits).
template <typename T>
inline void transpose_16x16_add(const T* src, int64_t lds, const T* bias, int64_t bias_stride, T* dst, int64_t ldd) {
#if defined(__SSE__)
  if constexpr (std::is_same<T, float>::value) {
    for (int64_t c = 0; c < 16; c += 4)
      for (int64_t v = 0; v < 16; v += 4) {
        const float* s = src + c * lds + v;
        __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + lds), r2 = _mm_loadu_ps(s + 2 * lds),
               r3 = _mm_loadu_ps(s + 3 * lds);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        if (bias) {
          r0 = _mm_add_ps(r0, _mm_set1_ps(bias[v * bias_stride])), r1 = _mm_add_ps(r1, _mm_set1_ps(bias[(v + 1) * bias_stride]));
          r2 = _mm_add_ps(r2, _mm_set1_ps(bias[(v + 2) * bias_stride])), r3 = _mm_add_ps(r3, _mm_set1_ps(bias[(v + 3) * bias_stride]));
        }
        float* d = dst + v * ldd + c;
        _mm_storeu_ps(d, r0), _mm_storeu_ps(d + ldd, r1), _mm_storeu_ps(d + 2 * ldd, r2), _mm_storeu_ps(d + 3 * ldd, r3);
      }
    return;
  }
#endif
  for (int64_t v = 0; v < 16; ++v)
    for (int64_t c = 0; c < 16; ++c) dst[v * ldd + c] = bias ? src[c * lds + v] + bias[v * bias_stride] : src[c * lds + v];
}

template <typename T>
void copy_to_channels_last(const T* src, int64_t N, int64_t C, int64_t H, int64_t W, const int64_t* strides,
                           T* dst) {
  constexpr int64_t kB = 16;
  const int64_t sc = strides[1], sw = strides[3];
  if (W < kB && sw == 1 && strides[2] == W && C >= kB) {
    // Rows shorter than a block (the 11x11 or 5x5 planes of a small CNN): blocks of 16 pixels of
    // the whole plane instead, so that the full-block path runs.
    const int64_t HW = H * W, t_blocks = (HW + kB - 1) / kB;
    parallel_for(0, N * t_blocks, 1, [&](int64_t lo, int64_t hi) {
      T block[kB][kB];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t n = task / t_blocks, t0 = (task % t_blocks) * kB, nt = std::min(kB, HW - t0);
        const T* plane = src + n * strides[0] + t0;
        T* out = dst + (n * HW + t0) * C;
        for (int64_t c0 = 0; c0 < C; c0 += kB) {
          const int64_t nc = std::min(kB, C - c0);
          if (nc == kB && nt == kB && transpose_16x16(plane + c0 * sc, sc, out + c0, C)) continue;
          for (int64_t c = 0; c < nc; ++c)
            for (int64_t t = 0; t < nt; ++t) block[t][c] = plane[(c0 + c) * sc + t];
          for (int64_t t = 0; t < nt; ++t)
            for (int64_t c = 0; c < nc; ++c) out[t * C + c0 + c] = block[t][c];
        }
      }
    });
    return;
  }
  parallel_for(0, N * H, 1, [&](int64_t lo, int64_t hi) {
    T block[kB][kB];
    for (int64_t nh = lo; nh < hi; ++nh) {
      const T* row = src + (nh / H) * strides[0] + (nh % H) * strides[2];
      T* out = dst + nh * W * C;
      // 16 x 16 blocks through a local buffer: each source row is read 16 values at a time and each
      // pixel's 16 channels are written at once (a direct copy would make one of the two strided).
      for (int64_t c0 = 0; c0 < C; c0 += kB) {
        const int64_t nc = std::min(kB, C - c0);
        for (int64_t vb = 0; vb < W; vb += kB) {
          // A row's last partial block moves back to end at the row's end, overlapping the block
          // before it (the same values written twice by this task): full blocks only on rows of 16
          // or more (the 56 or 28 pixels of ResNet rows left 8 or 12 to the element loop).
          const int64_t v0 = vb + kB > W && W >= kB ? W - kB : vb;
          const int64_t nv = std::min(kB, W - v0);
          if (nc == kB && nv == kB && sw == 1 && transpose_16x16(row + c0 * sc + v0, sc, out + v0 * C + c0, C)) {
            continue;
          } else if (nc == kB && nv == kB && sw == 1) {
            for (int64_t c = 0; c < kB; ++c)
              for (int64_t v = 0; v < kB; ++v) block[v][c] = row[(c0 + c) * sc + v0 + v];
            for (int64_t v = 0; v < kB; ++v)
              for (int64_t c = 0; c < kB; ++c) out[(v0 + v) * C + c0 + c] = block[v][c];
          } else {
            for (int64_t v = 0; v < nv; ++v)
              for (int64_t c = 0; c < nc; ++c) out[(v0 + v) * C + c0 + c] = row[(c0 + c) * sc + (v0 + v) * sw];
          }
        }
      }
    }
  });
}

// Element strides (n, c, h, w) of the copy above.
inline void channels_last_strides(int64_t C, int64_t H, int64_t W, int64_t* strides) {
  strides[0] = H * W * C, strides[1] = 1, strides[2] = W * C, strides[3] = C;
}

}  // namespace cpu
}  // namespace fastconv
