// The indirect GEMM behind conv2d's forward pass on channels-last data (Dukhan, "The Indirect
// Convolution Algorithm", arXiv:1907.02129), per ISA:
//
//   C[i * ldc + n] = sum over tap < taps, c < Cg of a[tap * 6 + i][c] * B[(tap * Cg + c) * 64 + n]
//   for i < rows (<= 6), n < 64 (C columns from `cols` on may be left unwritten when cols <= 32)
//
// a: for each filter tap, pointers to the 6 output pixels' input pixel vectors (Cg contiguous
// channels; a zero vector where the tap falls in the padding). B: the packed filters of a block of
// 64 output channels. Nothing is gathered: the kernel reads the input where it lies. Each C element
// is summed over (tap, c) in order: deterministic.
//
// a_next (may be null): the next call's pointers, laid out as a. While it works on a tap the
// AVX-512 kernel prefetches the next call's input vectors for the same tap into L1: the first pass
// over an input row otherwise waits on L3 for each of its lines (one convolution's input is several
// MB), measured at 8-9 % of the stride-2 3x3 ResNet layer's time. Prefetches change no value.
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

constexpr int64_t kIgemmRows = 6;
constexpr int64_t kIgemmCols = 64;

#define FASTCONV_IGEMM_DECLARE(ns)                                                                           \
  namespace ns {                                                                                             \
  void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a,             \
                  const float* B, float* C, int64_t ldc, const float* const* a_next);                        \
  void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a,            \
                  const double* B, double* C, int64_t ldc, const double* const* a_next);                     \
  void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a,        \
                       const float* B, float* const* out, const float* bias, const float* const* a_next,     \
                       bool stream);                                                                         \
  void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a,       \
                       const double* B, double* const* out, const double* bias,                              \
                       const double* const* a_next, bool stream);                                            \
  void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const float* const* a, const float* B,        \
                      float* const* out);                                                                   \
  void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const double* const* a, const double* B,      \
                      double* const* out);                                                                  \
  }
FASTCONV_IGEMM_DECLARE(scalar)
FASTCONV_IGEMM_DECLARE(avx2)
FASTCONV_IGEMM_DECLARE(avx512)
#undef FASTCONV_IGEMM_DECLARE

// The same sums stored straight to channels-last outputs: row i < rows to out[i][0 .. cols), plus
// bias[n] added after the sum when bias is not null (the bits of C[i][n] + bias[n] above). Saves
// the staging buffer and the second pass over it.
// stream: a hint that the outputs will not be read soon (an output far larger than the caches).
// Kernels may then store full 64-byte-aligned rows with non-temporal stores, which skip reading
// each line into the cache before writing it (a third of the memory traffic of a pass that writes
// a large output, and the stall on each line's read); the caller issues store_fence() (conv2d_tiles.h) before the
// outputs are read (at the end of each parallel task). Same values either way.

// The selected ISA's kernels.
void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                float* C, int64_t ldc, const float* const* a_next = nullptr);
void igemm_6x64(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a, const double* B,
                double* C, int64_t ldc, const double* const* a_next = nullptr);

void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const float* const* a, const float* B,
                     float* const* out, const float* bias, const float* const* a_next = nullptr, bool stream = false);
void igemm_6x64_rows(int64_t rows, int64_t cols, int64_t taps, int64_t Cg, const double* const* a, const double* B,
                     double* const* out, const double* bias, const double* const* a_next = nullptr,
                     bool stream = false);

// The sums of one tap (taps = 1) added into outputs in pieces of 16 channels: for i < rows and
// v < cols / 16 (cols a multiple of 16), out[i * 4 + v][0 .. 16) += C[i][16 * v .. 16 * v + 16),
// skipping null pointers. A col2im that adds each tile of the GEMM into an image where it lies
// (conv2d_dgrad_col2im_channels_last.cpp) does so without a staging tile and a second pass over it.
// Each piece gets the same bits as C[i][n] computed above, then added.
constexpr int64_t kIgemmAddPieces = kIgemmCols / 16;
void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const float* const* a, const float* B, float* const* out);
void igemm_6x64_add(int64_t rows, int64_t cols, int64_t Cg, const double* const* a, const double* B,
                    double* const* out);

// Whether a pass writing `bytes` of output should ask for streaming stores: only outputs well past
// the last-level cache share per core, which a following pass would read from memory anyway.
constexpr int64_t kStreamOutputBytes = int64_t(8) << 20;
inline bool stream_output(int64_t bytes) { return bytes >= kStreamOutputBytes; }

}  // namespace cpu
}  // namespace fastconv
