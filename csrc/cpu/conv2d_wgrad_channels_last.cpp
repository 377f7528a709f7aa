// conv2d backward-weight on channels-last data (x and dy with contiguous channels), on the tile GEMM.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// For each filter tap and block of 64 input channels, over a chunk of T output pixels:
//   dw[k, c, r, s] += sum_t dy[t, k] * x[t shifted by (r, s), c]
// is a tile GEMM whose A panels are 6 consecutive dy channels of each pixel and whose B rows are 64
// consecutive x channels of each pixel: every gather is a contiguous copy.
//
// Determinism as in conv2d_wgrad_implicit_gemm.cpp: parts of the reduction fixed by the problem,
// each summed in order by one task, then the parts added in order.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"

namespace fastconv {

namespace {
constexpr int64_t kChunk = 256;        // reduction length of one tile GEMM call
constexpr int64_t kPartPixels = 2048;  // a multiple of kChunk
constexpr int64_t kMaxParts = 64;
constexpr int64_t kCB = cpu::kTilePixels;  // input channels per block: the tile GEMM's column count
}  // namespace

bool conv2d_wgrad_channels_last_applies(const Conv2dParams& p) {
  return p.x_strides[1] == 1 && p.y_strides[1] == 1 && p.C_per_group() >= 8;
}

template <typename T>
void conv2d_wgrad_channels_last(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t taps = p.R * p.S, PQ = p.P * p.Q, NPQ = p.N * PQ;
  if (p.K == 0 || Cg == 0) return;
  const int64_t part_pixels =
      std::max(kPartPixels, cpu::ceil_div(cpu::ceil_div(NPQ, kMaxParts), kChunk) * kChunk);
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(NPQ, part_pixels));
  const int64_t c_blocks = cpu::ceil_div(Cg, kCB);
  const int64_t panels = cpu::panel_count(Kg);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // partial[part][g][cb][tap][k][cc]
  const int64_t block_size = taps * Kg * kCB;
  std::vector<T> partial(static_cast<size_t>(parts * G * c_blocks * block_size));

  parallel_for(0, parts * G * c_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> a(static_cast<size_t>(panels * cpu::kPanelRows * kChunk));
    std::vector<T> bm(static_cast<size_t>(kChunk * kCB)), out(static_cast<size_t>(Kg * kCB));
    std::vector<int64_t> pix_n(kChunk), pix_h(kChunk), pix_w(kChunk);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t cb = task % c_blocks, g = (task / c_blocks) % G, part = task / (c_blocks * G);
      const int64_t c0 = g * Cg + cb * kCB, nc = std::min(kCB, Cg - cb * kCB);
      T* acc = partial.data() + task * block_size;  // task order is (part, g, cb)
      std::fill(acc, acc + block_size, T(0));
      const int64_t part_end = std::min(NPQ, (part + 1) * part_pixels);
      for (int64_t pix0 = part * part_pixels; pix0 < part_end; pix0 += kChunk) {
        const int64_t count = std::min(kChunk, part_end - pix0);
        // A: panels of 6 dy channels per pixel; zero past the chunk and past K/G.
        std::fill(a.begin(), a.end(), T(0));
        for (int64_t t = 0; t < count; ++t) {
          const int64_t pix = pix0 + t, n = pix / PQ, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
          pix_n[t] = n, pix_h[t] = oh * p.stride_h - p.pad_h, pix_w[t] = ow * p.stride_w - p.pad_w;
          const T* src = dy + n * ys[0] + oh * ys[2] + ow * ys[3] + g * Kg;
          for (int64_t panel = 0; panel < panels; ++panel) {
            T* dst = a.data() + (panel * kChunk + t) * cpu::kPanelRows;
            const int64_t rows = std::min(cpu::kPanelRows, Kg - panel * cpu::kPanelRows);
            for (int64_t i = 0; i < rows; ++i) dst[i] = src[panel * cpu::kPanelRows + i];
          }
        }
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s) {
            // B: 64 channels of each pixel's input under tap (r, s); zero in the padding.
            for (int64_t t = 0; t < kChunk; ++t) {
              T* dst = bm.data() + t * kCB;
              const int64_t h = pix_h[t] + r * p.dilation_h, v = pix_w[t] + s * p.dilation_w;
              if (t >= count || h < 0 || h >= p.H || v < 0 || v >= p.W) {
                std::fill(dst, dst + kCB, T(0));
                continue;
              }
              const T* src = x + pix_n[t] * xs[0] + h * xs[2] + v * xs[3] + c0;
              for (int64_t cc = 0; cc < nc; ++cc) dst[cc] = src[cc];
              for (int64_t cc = nc; cc < kCB; ++cc) dst[cc] = T(0);
            }
            cpu::gemm_tile(Kg, kChunk, a.data(), bm.data(), out.data());
            T* acc_tap = acc + (r * p.S + s) * Kg * kCB;
            for (int64_t i = 0; i < Kg * kCB; ++i) acc_tap[i] += out[i];
          }
      }
    }
  });

  // dw = the parts' sums added in part order.
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t tap = 0; tap < taps; ++tap) {
          const int64_t cb = c / kCB, at = (tap * Kg + k) * kCB + c % kCB;
          T total = partial[(g * c_blocks + cb) * block_size + at];
          for (int64_t part = 1; part < parts; ++part)
            total += partial[((part * G + g) * c_blocks + cb) * block_size + at];
          dw[kk * p.w_strides[0] + c * p.w_strides[1] + (tap / p.S) * p.w_strides[2] + (tap % p.S) * p.w_strides[3]] =
              total;
        }
    }
  });
}

template void conv2d_wgrad_channels_last<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_channels_last<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
