// conv2d forward by indirect GEMM (ukernels/igemm.h).
//   x: (N, C, H, W), any strides   w: (K, C/G, R, S)   b: (K,) or null   y: (N, K, P, Q)
// Per task (group, block of output pixels of the batch): for each micro-tile of 6 pixels and each
// filter tap, a pointer to the input pixel's C/G channels (or to zeros in the padding); the kernel
// multiplies them with the packed filters of 64 output channels at a time. Channels-last input
// (NHWC) is read in place: no patch matrix is gathered. Planar input (NCHW) is read through a
// channels-last copy of the few input rows one band of output rows needs, made by the task that
// uses it while it is in L2 (a copy of the whole tensor would go through memory and back).
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
static_assert(kBlockTiles * kMR == kIndirectGemmBlockPixels, "conv2d_algorithms.h states the block size");

// Where a task reads input pixel (n, h, v) of its group: base + (n - n0) * n_stride +
// (h - h0) * h_stride + v * w_stride (x itself, or a band's copy of rows h0, h0 + 1, ... of image n0).
template <typename T>
struct PixelSource {
  const T* base;
  int64_t n_stride, h_stride, w_stride, n0, h0;
  const T* at(int64_t n, int64_t h, int64_t v) const { return base + (n - n0) * n_stride + (h - h0) * h_stride + v * w_stride; }
};

template <typename T>
inline void prefetch_l2(const T* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 2);
#else
  (void)p;
#endif
}

// dst[((h - h0) * W + v) * Cg + c] = x[c * sc + h * sh + v * sw] for rows h0 <= h < h1 (x: one image
// and group's first channel). Rows two ahead are prefetched: the task's first reads of x come from
// memory, in as many streams as channels.
template <typename T>
void copy_rows_to_channels_last(const T* x, int64_t Cg, int64_t H, int64_t W, int64_t sc, int64_t sh, int64_t sw,
                                int64_t h0, int64_t h1, T* dst) {
  constexpr int64_t kB = 16;
  for (int64_t h = h0; h < h1; ++h) {
    const T* row = x + h * sh;
    T* out = dst + (h - h0) * W * Cg;
    int64_t c0 = 0;
    for (; c0 + kB <= Cg; c0 += kB) {
      if (h + 2 < H)
        for (int64_t c = c0; c < c0 + kB; ++c)
          for (int64_t v = 0; v < W; v += 64 / sizeof(T)) prefetch_l2(row + 2 * sh + c * sc + v * sw);
      int64_t vb = 0;
      if (sw == 1 && W >= kB)
        for (; vb < W; vb += kB) {
          // The last partial block moves back to end at the row's end (values written twice).
          const int64_t v0 = std::min(vb, W - kB);
          if (!cpu::transpose_16x16(row + c0 * sc + v0, sc, out + v0 * Cg + c0, Cg)) break;
        }
      for (int64_t v = vb < W ? 0 : W; v < W; ++v)
        for (int64_t c = c0; c < c0 + kB; ++c) out[v * Cg + c] = row[c * sc + v * sw];
    }
    for (int64_t v = 0; v < W; ++v)
      for (int64_t c = c0; c < Cg; ++c) out[v * Cg + c] = row[c * sc + v * sw];
  }
}

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
  const bool planar = Cg > 1 && xs[1] != 1;
  const bool row_taps = !planar && Cg < 16 && p.S > 1 && p.dilation_w == 1 && G == 1 && xs[3] == Cg;
  const int64_t kernel_taps = row_taps ? p.R : taps, kernel_channels = row_taps ? p.S * Cg : Cg;
  const std::vector<T> zeros(static_cast<size_t>(kernel_channels), T(0));

  const int64_t block_pixels = kBlockTiles * kMR;
  // A large channels-last output bypasses the caches (igemm.h): measured on the 1x1 layer 256 -> 64
  // channels' dgrad (8x64x56x56 -> 8x256x56x56, 25.7 MB) 63 -> 91 GFLOP/s on one thread.
  const bool stream = ys[1] == 1 && cpu::stream_output(NPQ * p.K * static_cast<int64_t>(sizeof(T)));
  // A thread's workspace for one block of pixels.
  struct Workspace {
    std::vector<const T*> ptrs;
    cpu::Scratch<T> edges;
    std::vector<int64_t> out_offset;
    // The block's outputs for one block of output channels: C tiles of kMR pixels x kNR channels.
    cpu::Scratch<T> out;
  };
  const auto workspace = [&] {
    return Workspace{std::vector<const T*>(static_cast<size_t>(kBlockTiles * taps * kMR)),
                     cpu::scratch<T>(row_taps ? block_pixels * p.R * kernel_channels : 0),
                     std::vector<int64_t>(block_pixels), cpu::scratch<T>(block_pixels * kNR)};
  };
  // Output pixels [pix0, pix0 + count) of the batch, count <= block_pixels, group g.
  const auto run_block = [&](int64_t g, int64_t pix0, int64_t count, const PixelSource<T>& xsrc, Workspace& ws) {
    std::vector<const T*>& ptrs = ws.ptrs;
    std::vector<int64_t>& out_offset = ws.out_offset;
    const cpu::Scratch<T>& edges = ws.edges;
    const cpu::Scratch<T>& out = ws.out;
    const int64_t tiles = cpu::ceil_div(count, kMR);
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
      const T* image = x + n * xs[0] + g * Cg;  // row_taps: channels-last x read in place
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
          row[(r * p.S + s) * kMR] = (h >= 0 && h < p.H && v >= 0 && v < p.W) ? xsrc.at(n, h, v) : zeros.data();
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
                               out_rows, bias, next_tile(kb, tile), stream);
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
  };

  if (!planar) {
    const int64_t blocks = cpu::ceil_div(NPQ, block_pixels);
    parallel_for(0, G * blocks, 1, [&](int64_t lo, int64_t hi) {
      Workspace ws = workspace();
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t g = task / blocks, pix0 = (task % blocks) * block_pixels;
        run_block(g, pix0, std::min(block_pixels, NPQ - pix0), PixelSource<T>{x + g * Cg, xs[0], xs[2], xs[3], 0, 0}, ws);
      }
      if (stream) cpu::store_fence();
    });
    return;
  }
  // Planar x: a task is a band of output rows of one image and group, about a block of pixels;
  // it first copies the input rows the band reads, channels-last.
  const int64_t band_rows = std::clamp<int64_t>(block_pixels / p.Q, 1, p.P), bands = cpu::ceil_div(p.P, band_rows);
  const int64_t band_in_rows = (band_rows - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
  parallel_for(0, G * p.N * bands, 1, [&](int64_t lo, int64_t hi) {
    Workspace ws = workspace();
    const auto rows = cpu::scratch<T>(std::min(band_in_rows, p.H) * p.W * Cg);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t g = task / (p.N * bands), n = task / bands % p.N, band = task % bands;
      const int64_t oh0 = band * band_rows, oh1 = std::min(p.P, oh0 + band_rows);
      const int64_t h_lo = std::max<int64_t>(0, oh0 * p.stride_h - p.pad_h);
      const int64_t h_hi = std::min(p.H, (oh1 - 1) * p.stride_h - p.pad_h + (p.R - 1) * p.dilation_h + 1);
      if (h_hi > h_lo)
        copy_rows_to_channels_last(x + n * xs[0] + g * Cg * xs[1], Cg, p.H, p.W, xs[1], xs[2], xs[3], h_lo, h_hi,
                                   rows.get());
      const PixelSource<T> band_rows_src{rows.get(), 0, p.W * Cg, Cg, n, h_lo};
      const int64_t pix_end = n * PQ + oh1 * p.Q;
      for (int64_t pix0 = n * PQ + oh0 * p.Q; pix0 < pix_end; pix0 += block_pixels)
        run_block(g, pix0, std::min(block_pixels, pix_end - pix0), band_rows_src, ws);
    }
    if (stream) cpu::store_fence();
  });
}

template void conv2d_fprop_indirect_gemm<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_fprop_indirect_gemm<double>(const Conv2dParams&, const double*, const double*, const double*,
                                                 double*);

}  // namespace fastconv
