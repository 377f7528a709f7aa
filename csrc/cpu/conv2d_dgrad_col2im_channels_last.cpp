// conv2d backward-data as a GEMM over output pixels with a channels-last col2im, for small images.
//   dy: (N, K, P, Q)   w: (K, C/G, R, S)   dx: (N, C, H, W)
// col[t, (r, s, c)] = sum_k dy[t, k] * w[k, c, r, s] for the output pixels t, then each (r, s)
// segment of C/G values is added into the input pixel that tap read in the forward pass. The GEMM
// is the igemm kernel with one "tap" per pixel (a pointer to its K/G contiguous dy values, so dy
// is not packed), and each 6 x 64 tile of col is added into dx as it leaves the kernel: by the
// kernel itself, 16 channels at a time, when C/G is a multiple of 16 (igemm_6x64_add), else from a
// staging tile.
//
// Why: the forward-pass form (conv2d_dgrad_by_forward.cpp) runs over every dx pixel with all taps,
// and on small images most of those taps fall in the padding of dy (a 3x3 filter on a 5x5 input
// with a 3x3 output: 64 % of the multiplications are by zeros). Here the GEMM does exactly the
// forward's multiplications, and the col2im costs 1/K of them in additions.
//
// Determinism: a task owns whole images (a count fixed by the problem), and adds into them in a
// fixed order (chunk of pixels, column block, pixel, tap; with the kernel's adds: chunk, tile of 6
// pixels, column block, pixel): no atomics, the same bits for any thread count.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t kChunkPixels = 16 * cpu::kIgemmRows;  // output pixels whose pointers are set at once
constexpr int64_t kCols = cpu::kIgemmCols;              // columns j per kernel call
}  // namespace

bool conv2d_dgrad_col2im_channels_last_applies(const Conv2dParams& p) {
  // Small images: the share of by-forward taps that land in dy's padding is large.
  // Bounded K/G and columns keep a chunk's A, B tile and columns in the core's L2.
  const int64_t Kg = p.K_per_group(), J = p.R * p.S * p.C_per_group();
  return Kg >= 16 && Kg <= 128 && p.C_per_group() >= 8 && J <= 1152 && p.P * p.Q <= 144;
}

template <typename T>
void conv2d_dgrad_col2im_channels_last(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = RS * Cg, PQ = p.P * p.Q;
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;

  // dy with contiguous channels (copied once if it is not).
  cpu::Scratch<T> dyt;
  const T* dyl = dy;
  int64_t ys[4] = {p.y_strides[0], p.y_strides[1], p.y_strides[2], p.y_strides[3]};
  if (ys[1] != 1) {
    dyt = cpu::scratch<T>(p.N * p.K * PQ);
    cpu::copy_to_channels_last(dy, p.N, p.K, p.P, p.Q, p.y_strides, dyt.get());
    cpu::channels_last_strides(p.K, p.P, p.Q, ys);
    dyl = dyt.get();
  }
  // dx accumulates in a channels-last buffer when its own channels are not contiguous.
  const bool dx_channels_last = p.x_strides[1] == 1;
  cpu::Scratch<T> dxt = cpu::scratch<T>(dx_channels_last ? 0 : p.N * p.H * p.W * p.C);
  int64_t xs[4] = {p.x_strides[0], p.x_strides[1], p.x_strides[2], p.x_strides[3]};
  T* dxl = dx;
  if (!dx_channels_last) {
    cpu::channels_last_strides(p.C, p.H, p.W, xs);
    dxl = dxt.get();
  }

  // wk[g][jb][k][64]: the igemm's packed B per block of 64 columns j = (r, s, c), zero past J.
  const int64_t j_blocks = cpu::ceil_div(J, kCols), wk_block = Kg * kCols;
  std::vector<T> wk(static_cast<size_t>(G * j_blocks * wk_block), T(0));
  for (int64_t kk = 0; kk < p.K; ++kk) {
    T* dst = wk.data() + (kk / Kg) * j_blocks * wk_block + (kk % Kg) * kCols;
    for (int64_t r = 0, j = 0; r < p.R; ++r)
      for (int64_t s = 0; s < p.S; ++s) {
        const T* src = w + kk * p.w_strides[0] + r * p.w_strides[2] + s * p.w_strides[3];
        for (int64_t c = 0; c < Cg; ++c, ++j) dst[(j / kCols) * wk_block + j % kCols] = src[c * p.w_strides[1]];
      }
  }
  // The runs of a column block that belong to one tap: added into one input pixel each.
  struct Segment {
    int64_t col, r, s, c, len;
  };
  std::vector<std::vector<Segment>> segments(j_blocks);
  for (int64_t j = 0; j < J;) {
    const int64_t tap = j / Cg, c = j % Cg, col = j % kCols, len = std::min(Cg - c, kCols - col);
    segments[j / kCols].push_back({col, tap / p.S, tap % p.S, c, len});
    j += len;
  }
  // With C/G a multiple of 16, every 16 columns of a block belong to one segment: pieces_of[jb][v]
  // is the tap and first channel of columns 16 v .. 16 v + 15 of block jb.
  constexpr int64_t kPieces = cpu::kIgemmAddPieces;
  const bool pieces = Cg % 16 == 0;
  std::vector<Segment> pieces_of(static_cast<size_t>(pieces ? j_blocks * kPieces : 0));
  for (int64_t j = 0; pieces && j < J; j += 16) {
    const int64_t tap = j / Cg;
    pieces_of[j / 16] = {j % kCols, tap / p.S, tap % p.S, j % Cg, 16};
  }
  // A piece's place in dx relative to where the pixel's first tap lands (pieces past J: unused).
  std::vector<int64_t> piece_offset(pieces_of.size());
  for (size_t i = 0; i < pieces_of.size(); ++i) {
    const Segment& piece = pieces_of[i];
    piece_offset[i] = piece.r * p.dilation_h * xs[2] + piece.s * p.dilation_w * xs[3] + piece.c;
  }
  const std::vector<T> zeros(static_cast<size_t>(Kg), T(0));

  // Tasks: (group, block of whole images), at least a chunk of pixels per block.
  const int64_t images = std::max<int64_t>(1, kChunkPixels / std::max<int64_t>(PQ, 1));
  const int64_t blocks = cpu::ceil_div(p.N, images);
  parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
    constexpr int64_t MR = cpu::kIgemmRows;
    std::vector<const T*> a(static_cast<size_t>(kChunkPixels));
    std::vector<int64_t> pix_n(kChunkPixels), pix_h(kChunkPixels), pix_w(kChunkPixels);
    // pieces: where the pixel's first tap lands in dx, and whether all its taps land inside.
    std::vector<T*> corner(kChunkPixels);
    std::vector<char> inside(kChunkPixels);
    T out[MR * kCols];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / blocks, n0 = (task % blocks) * images, n1 = std::min(p.N, n0 + images);
      for (int64_t n = n0; n < n1; ++n) {
        if (G == 1 && xs[1] == 1 && xs[3] == p.C && xs[2] == p.W * p.C) {  // a dense image
          std::fill(dxl + n * xs[0], dxl + n * xs[0] + p.H * p.W * p.C, T(0));
          continue;
        }
        for (int64_t h = 0; h < p.H; ++h)
          for (int64_t v = 0; v < p.W; ++v) {
            T* px = dxl + n * xs[0] + h * xs[2] + v * xs[3] + g * Cg * xs[1];
            for (int64_t c = 0; c < Cg; ++c) px[c * xs[1]] = T(0);
          }
      }
      if (PQ == 0) continue;
      const int64_t pix_end = n1 * PQ;
      for (int64_t pix0 = n0 * PQ; pix0 < pix_end; pix0 += kChunkPixels) {
        const int64_t count = std::min(kChunkPixels, pix_end - pix0), tiles = cpu::ceil_div(count, MR);
        // The igemm's A: one pointer per output pixel to its K/G contiguous dy values (one "tap").
        for (int64_t m = 0; m < tiles * MR; ++m) {
          if (m >= count) {
            a[m] = zeros.data();
            continue;
          }
          const int64_t pix = pix0 + m, n = pix / PQ, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
          a[m] = dyl + n * ys[0] + oh * ys[2] + ow * ys[3] + g * Kg;
          pix_n[m] = n, pix_h[m] = oh * p.stride_h - p.pad_h, pix_w[m] = ow * p.stride_w - p.pad_w;
          corner[m] = dxl + n * xs[0] + pix_h[m] * xs[2] + pix_w[m] * xs[3] + g * Cg;
          inside[m] = pix_h[m] >= 0 && pix_h[m] + (p.R - 1) * p.dilation_h < p.H && pix_w[m] >= 0 &&
                      pix_w[m] + (p.S - 1) * p.dilation_w < p.W;
        }
        if (pieces) {
          // Each 16 columns lie in one tap's segment: the kernel adds them into dx itself. A tile's
          // dy pixels stay in L1 across the column blocks while the filters stream from L2.
          for (int64_t tile = 0; tile < tiles; ++tile) {
            const int64_t rows = std::min(MR, count - tile * MR);
            for (int64_t jb = 0; jb < j_blocks; ++jb) {
              const int64_t cols = std::min(kCols, J - jb * kCols);
              const Segment* piece = pieces_of.data() + jb * kPieces;
              const int64_t* offset = piece_offset.data() + jb * kPieces;
              T* dst[MR * kPieces];
              for (int64_t i = 0; i < rows; ++i) {
                const int64_t m = tile * MR + i;
                if (inside[m]) {
                  for (int64_t v = 0; v < kPieces; ++v) dst[i * kPieces + v] = corner[m] + offset[v];
                  continue;
                }
                for (int64_t v = 0; v < cols / 16; ++v) {
                  const int64_t h = pix_h[m] + piece[v].r * p.dilation_h, u = pix_w[m] + piece[v].s * p.dilation_w;
                  dst[i * kPieces + v] = h < 0 || h >= p.H || u < 0 || u >= p.W ? nullptr : corner[m] + offset[v];
                }
              }
              cpu::igemm_6x64_add(rows, cols, Kg, a.data() + tile * MR, wk.data() + (g * j_blocks + jb) * wk_block, dst);
            }
          }
          continue;
        }
        for (int64_t jb = 0; jb < j_blocks; ++jb) {
          const T* B = wk.data() + (g * j_blocks + jb) * wk_block;
          const int64_t cols = std::min(kCols, J - jb * kCols);
          for (int64_t tile = 0; tile < tiles; ++tile) {
            const int64_t rows = std::min(MR, count - tile * MR);
            cpu::igemm_6x64(rows, cols, 1, Kg, a.data() + tile * MR, B, out, kCols);
            for (int64_t i = 0; i < rows; ++i) {
              const int64_t m = tile * MR + i;
              for (const Segment& seg : segments[jb]) {
                const int64_t h = pix_h[m] + seg.r * p.dilation_h, v = pix_w[m] + seg.s * p.dilation_w;
                if (h < 0 || h >= p.H || v < 0 || v >= p.W) continue;
                T* px = dxl + pix_n[m] * xs[0] + h * xs[2] + v * xs[3] + g * Cg + seg.c;
                const T* src = out + i * kCols + seg.col;
                for (int64_t c = 0; c < seg.len; ++c) px[c] += src[c];
              }
            }
          }
        }
      }
    }
  });

  if (!dx_channels_last) {
    // Blocks of 16 channels x 16 pixels through a local buffer: reads 16 channels of a pixel and
    // writes 16 pixels of a plane at a time (a direct copy strides one side by C).
    constexpr int64_t kB = 16;
    const int64_t HW = p.H * p.W, c_blocks = cpu::ceil_div(p.C, kB);
    const int64_t* ds = p.x_strides;
    const bool contiguous_planes = ds[3] == 1 && ds[2] == p.W;
    parallel_for(0, p.N * c_blocks, 1, [&](int64_t lo, int64_t hi) {
      T block[kB][kB];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t n = task / c_blocks, c0 = (task % c_blocks) * kB, nc = std::min(kB, p.C - c0);
        const T* src = dxt.get() + n * xs[0] + c0;
        for (int64_t t0 = 0; t0 < HW; t0 += kB) {
          const int64_t nt = std::min(kB, HW - t0);
          if (nt == kB && nc == kB && contiguous_planes &&
              cpu::transpose_16x16(src + t0 * p.C, p.C, dx + n * ds[0] + c0 * ds[1] + t0, ds[1]))
            continue;
          if (nt == kB && nc == kB) {  // fixed bounds: the compiler unrolls and vectorises
            for (int64_t t = 0; t < kB; ++t)
              for (int64_t c = 0; c < kB; ++c) block[c][t] = src[(t0 + t) * p.C + c];
          } else {
            for (int64_t t = 0; t < nt; ++t)
              for (int64_t c = 0; c < nc; ++c) block[c][t] = src[(t0 + t) * p.C + c];
          }
          int64_t at[kB];  // the block's pixels in a plane
          for (int64_t t = 0, h = t0 / p.W, v = t0 % p.W; t < nt; ++t) {
            at[t] = h * ds[2] + v * ds[3];
            if (++v == p.W) v = 0, ++h;
          }
          for (int64_t c = 0; c < nc; ++c) {
            T* plane = dx + n * ds[0] + (c0 + c) * ds[1];
            for (int64_t t = 0; t < nt; ++t) plane[at[t]] = block[c][t];
          }
        }
      }
    });
  }
}

template void conv2d_dgrad_col2im_channels_last<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_col2im_channels_last<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
