// Winograd F(4x4, 3x3) tile transforms per ISA, over the kTilePixels tiles of a block at once
// (lane t = tile t), so that they vectorise.
//
//   input_tiles:  for one channel plane, gather each tile's 6x6 input window (zero outside the
//                 H x W plane) and write V[xi * v_stride + t] = (B^T d B)[xi] for xi < 36.
//                 Tile t's window starts at row tile_h[t], column tile_w[t] of image tile_n[t].
//   output_tiles: from M[xi * m_stride + t] (xi < 36), write o[i * 4 + j][t] = (A^T m A)[i][j].
#pragma once

#include <cstdint>

namespace fastconv {
namespace cpu {

struct WinogradTiles {
  const int64_t* tile_n;
  const int64_t* tile_h;
  const int64_t* tile_w;
};

struct PlaneView {
  int64_t H, W, stride_n, stride_h, stride_w;
};

#define FASTCONV_WINOGRAD_DECLARE(ns)                                                                       \
  namespace ns {                                                                                            \
  void winograd_f4x3_input_tiles(const float* plane, const PlaneView& v, const WinogradTiles& t, float* V,  \
                                 int64_t v_stride);                                                         \
  void winograd_f4x3_input_tiles(const double* plane, const PlaneView& v, const WinogradTiles& t, double* V, \
                                 int64_t v_stride);                                                         \
  void winograd_f4x3_output_tiles(const float* M, int64_t m_stride, float* o);                              \
  void winograd_f4x3_output_tiles(const double* M, int64_t m_stride, double* o);                            \
  }
FASTCONV_WINOGRAD_DECLARE(scalar)
FASTCONV_WINOGRAD_DECLARE(avx2)
FASTCONV_WINOGRAD_DECLARE(avx512)
#undef FASTCONV_WINOGRAD_DECLARE

// The selected ISA's transforms.
void winograd_f4x3_input_tiles(const float* plane, const PlaneView& v, const WinogradTiles& t, float* V,
                               int64_t v_stride);
void winograd_f4x3_input_tiles(const double* plane, const PlaneView& v, const WinogradTiles& t, double* V,
                               int64_t v_stride);
void winograd_f4x3_output_tiles(const float* M, int64_t m_stride, float* o);
void winograd_f4x3_output_tiles(const double* M, int64_t m_stride, double* o);

}  // namespace cpu
}  // namespace fastconv
