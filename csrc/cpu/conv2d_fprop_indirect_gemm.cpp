// conv2d forward on channels-last input: indirect GEMM (ukernels/igemm.h).
//   x: (N, C, H, W) with C contiguous (NHWC)   w: (K, C/G, R, S)   b: (K,) or null   y: (N, K, P, Q)
// Per task (group, block of output pixels of the batch): for each micro-tile of 6 pixels and each
// filter tap, a pointer to the input pixel's C/G channels (or to zeros in the padding); the kernel
// multiplies them with the packed filters of 64 output channels at a time. The input is read in
// place: no patch matrix is gathered.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t kMR = cpu::kIgemmRows, kNR = cpu::kIgemmCols;
constexpr int64_t kBlockTiles = 16;  // micro-tiles of kMR pixels per task
}  // namespace

bool conv2d_indirect_gemm_applies(const Conv2dParams& p) { return p.x_strides[1] == 1; }

template <typename T>
void conv2d_fprop_indirect_gemm(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t taps = p.R * p.S, NPQ = p.N * p.P * p.Q, PQ = p.P * p.Q;
  if (NPQ == 0 || p.K == 0) return;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // Bp[g][kb][tap][c][n]: filters of output channel g * Kg + kb * 64 + n, zero past K/G.
  const int64_t k_blocks = cpu::ceil_div(Kg, kNR), b_stride = taps * Cg * kNR;
  const auto Bp = cpu::scratch<T>(G * k_blocks * b_stride);
  parallel_for(0, G * k_blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t gk = lo; gk < hi; ++gk) {
      const int64_t g = gk / k_blocks, k0 = (gk % k_blocks) * kNR, nk = std::min(kNR, Kg - k0);
      T* dst = Bp.get() + gk * b_stride;
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s)
          for (int64_t c = 0; c < Cg; ++c) {
            T* row = dst + ((r * p.S + s) * Cg + c) * kNR;
            const T* src = w + (g * Kg + k0) * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3];
            for (int64_t n = 0; n < nk; ++n) row[n] = src[n * p.w_strides[0]];
            for (int64_t n = nk; n < kNR; ++n) row[n] = T(0);
          }
    }
  });
  // Few channels (the first layer: C = 1 or 3) and pixels stored back to back: the S taps of a filter
  // row read S * C consecutive values, so one pointer per filter row serves as a "tap" of S * C
  // channels (the packed filters' order (r, s, c) is unchanged: the same sums in the same order).
  // A row that overhangs the image's left or right edge is copied with zeros into `edges`.
  const bool row_taps = Cg < 16 && p.S > 1 && p.dilation_w == 1 && G == 1 && xs[3] == Cg;
  const int64_t kernel_taps = row_taps ? p.R : taps, kernel_channels = row_taps ? p.S * Cg : Cg;
  const std::vector<T> zeros(static_cast<size_t>(kernel_channels), T(0));

  const int64_t block_pixels = kBlockTiles * kMR, blocks = cpu::ceil_div(NPQ, block_pixels);
  parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> ptrs(static_cast<size_t>(kBlockTiles * taps * kMR));
    const auto edges = cpu::scratch<T>(row_taps ? block_pixels * p.R * kernel_channels : 0);
    std::vector<int64_t> out_offset(block_pixels);
    // The block's outputs for one block of output channels: C tiles of kMR pixels x kNR channels.
    const auto out = cpu::scratch<T>(block_pixels * kNR);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / blocks, pix0 = (task % blocks) * block_pixels;
      const int64_t count = std::min(block_pixels, NPQ - pix0), tiles = cpu::ceil_div(count, kMR);
      // ptrs[(tile * taps + tap) * 6 + i]; rows past the block's end read zeros (never stored).
      for (int64_t t = 0; t < tiles * kMR; ++t) {
        const int64_t tile = t / kMR, i = t % kMR;
        const T** row = ptrs.data() + tile * kernel_taps * kMR + i;
        if (t >= count) {
          for (int64_t tap = 0; tap < kernel_taps; ++tap) row[tap * kMR] = zeros.data();
          continue;
        }
        const int64_t pix = pix0 + t, n = pix / PQ, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
        out_offset[t] = n * ys[0] + oh * ys[2] + ow * ys[3];
        const T* image = x + n * xs[0] + g * Cg;
        if (row_taps) {
          const int64_t v0 = ow * p.stride_w - p.pad_w;
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t h = oh * p.stride_h - p.pad_h + r * p.dilation_h;
            const T* src = zeros.data();
            if (h >= 0 && h < p.H && v0 >= 0 && v0 + p.S <= p.W) {
              src = image + h * xs[2] + v0 * xs[3];
            } else if (h >= 0 && h < p.H && v0 + p.S > 0 && v0 < p.W) {
              T* edge = edges.get() + (t * p.R + r) * kernel_channels;
              for (int64_t s = 0; s < p.S; ++s)
                for (int64_t c = 0; c < Cg; ++c)
                  edge[s * Cg + c] = (v0 + s >= 0 && v0 + s < p.W) ? image[h * xs[2] + (v0 + s) * xs[3] + c] : T(0);
              src = edge;
            }
            row[r * kMR] = src;
          }
          continue;
        }
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t h = oh * p.stride_h - p.pad_h + r * p.dilation_h;
          for (int64_t s = 0; s < p.S; ++s) {
            const int64_t v = ow * p.stride_w - p.pad_w + s * p.dilation_w;
            row[(r * p.S + s) * kMR] =
                (h >= 0 && h < p.H && v >= 0 && v < p.W) ? image + h * xs[2] + v * xs[3] : zeros.data();
          }
        }
      }
      // The first block of output channels prefetches each next tile's inputs (igemm.h); the later
      // blocks find the block's inputs in L2.
      const auto next_tile = [&](int64_t kb, int64_t tile) -> const T* const* {
        return kb == 0 && tile + 1 < tiles ? ptrs.data() + (tile + 1) * kernel_taps * kMR : nullptr;
      };
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        const int64_t k0 = kb * kNR, nk = std::min(kNR, Kg - k0);
        const T* B = Bp.get() + (g * k_blocks + kb) * b_stride;
        T* yk = y + (g * Kg + k0) * ys[1];
        const T* bias = b ? b + (g * Kg + k0) * p.b_stride : nullptr;
        if (ys[1] == 1 && (!b || p.b_stride == 1)) {
          // Channels-last output: each pixel's channels straight from the kernel's registers.
          for (int64_t tile = 0; tile < tiles; ++tile) {
            const int64_t rows = std::min(kMR, count - tile * kMR);
            T* out_rows[kMR];
            for (int64_t i = 0; i < rows; ++i) out_rows[i] = yk + out_offset[tile * kMR + i];
            cpu::igemm_6x64_rows(rows, nk, kernel_taps, kernel_channels, ptrs.data() + tile * kernel_taps * kMR, B,
                                 out_rows, bias, next_tile(kb, tile));
          }
          continue;
        }
        for (int64_t tile = 0; tile < tiles; ++tile) {
          const int64_t rows = std::min(kMR, count - tile * kMR);
          cpu::igemm_6x64(rows, nk, kernel_taps, kernel_channels, ptrs.data() + tile * kernel_taps * kMR, B,
                          out.get() + tile * kMR * kNR, kNR, next_tile(kb, tile));
        }
        if (ys[1] == 1) {
          for (int64_t t = 0; t < count; ++t)
            for (int64_t k = 0; k < nk; ++k) yk[out_offset[t] + k] = out[t * kNR + k] + (bias ? bias[k * p.b_stride] : T(0));
        } else {
          // Channel planes (NCHW y, or dx of a backward pass): pixels stored to consecutive
          // addresses of a plane (a row of a dense plane, up to an image's end) go 16 channels x 16
          // pixels at a time through a register transpose; the rest one plane at a time, so that
          // consecutive pixels are stored to consecutive addresses instead of every pixel touching
          // kNR cache lines.
          for (int64_t t0 = 0, t1; t0 < count; t0 = t1) {
            for (t1 = t0 + 1; t1 < count && out_offset[t1] == out_offset[t1 - 1] + ys[3]; ++t1) {
            }
            int64_t t = t0;
            if (ys[3] == 1)
              for (; t + 16 <= t1; t += 16)
                for (int64_t k0 = 0; k0 + 16 <= nk; k0 += 16)
                  cpu::transpose_16x16_add(out.get() + t * kNR + k0, kNR, bias ? bias + k0 * p.b_stride : nullptr,
                                           p.b_stride, yk + k0 * ys[1] + out_offset[t], ys[1]);
            const int64_t k_done = ys[3] == 1 ? nk / 16 * 16 : 0;
            for (int64_t k = 0; k < nk; ++k) {
              T* plane = yk + k * ys[1];
              const int64_t u0 = k < k_done ? t : t0;
              if (bias) {
                const T bk = bias[k * p.b_stride];
                for (int64_t u = u0; u < t1; ++u) plane[out_offset[u]] = out[u * kNR + k] + bk;
              } else {
                for (int64_t u = u0; u < t1; ++u) plane[out_offset[u]] = out[u * kNR + k];
              }
            }
          }
        }
      }
    }
  });
}

template void conv2d_fprop_indirect_gemm<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_indirect_gemm<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                 double*);

}  // namespace fastconv
