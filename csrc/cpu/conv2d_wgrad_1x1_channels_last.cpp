// conv2d backward-weight of a strided 1x1 convolution without padding on channels-last x and dy,
// with both operands read in place.
//   dy: (N, K, P, Q)   x: (N, C, H, W), channels contiguous in both   dw: (K, C/G, 1, 1)
// dw[k, c] = sum over output pixels t of dy[t, k] * x[t's input pixel, c]: a GEMM whose rows are
// pixels. The row-pointer GEMM (ukernels/gemm_rows.h) takes each pixel's K/G channels of dy (A) and
// 64 channels of x (B) where they lie, so neither operand is copied, though x's pixels are spaced
// by the stride. (At stride 1, conv2d_wgrad_channels_last.cpp reads x in place too, with dy packed
// into panels; that measured 4 % faster there than this kernel's dy pointers.)
//
// Determinism: the pixels split into parts fixed by the problem (not the thread count); a task sums
// one part's pixels in order into its own partial dw block, and the parts are added in order.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/gemm_rows.h"

namespace fastconv {

namespace {
constexpr int64_t kChunk = 256;        // pixels per kernel call: its B rows (64 KB of floats) stay in L2
constexpr int64_t kPartPixels = 2048;  // a multiple of kChunk
constexpr int64_t kMaxParts = 64;
constexpr int64_t kCB = cpu::kRowsCols;
}  // namespace

bool conv2d_wgrad_1x1_channels_last_applies(const Conv2dParams& p) {
  return p.R == 1 && p.S == 1 && p.pad_h == 0 && p.pad_w == 0 && (p.stride_h > 1 || p.stride_w > 1) &&
         p.x_strides[1] == 1 && p.y_strides[1] == 1 && p.C_per_group() % kCB == 0;
}

template <typename T>
void conv2d_wgrad_1x1_channels_last(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t PQ = p.P * p.Q, NPQ = p.N * PQ;
  if (p.K == 0 || Cg == 0) return;
  const int64_t part_pixels =
      std::max(kPartPixels, cpu::ceil_div(cpu::ceil_div(NPQ, kMaxParts), kChunk) * kChunk);
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(NPQ, part_pixels));
  const int64_t c_blocks = Cg / kCB;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // partial[part][g][cb][k][cc]: one part's sum for channels cb * 64 + cc of group g.
  const int64_t block_size = Kg * kCB;
  const auto partial = cpu::scratch<T>(parts * G * c_blocks * block_size);

  parallel_for(0, parts * G * c_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> a(kChunk), b(kChunk);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t cb = task % c_blocks, g = (task / c_blocks) % G, part = task / (c_blocks * G);
      T* acc = partial.get() + task * block_size;
      std::fill(acc, acc + block_size, T(0));
      const int64_t part_end = std::min(NPQ, (part + 1) * part_pixels);
      for (int64_t pix0 = part * part_pixels; pix0 < part_end; pix0 += kChunk) {
        const int64_t count = std::min(kChunk, part_end - pix0);
        for (int64_t t = 0; t < count; ++t) {
          const int64_t pix = pix0 + t, n = pix / PQ, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
          a[t] = dy + n * ys[0] + oh * ys[2] + ow * ys[3] + g * Kg;
          b[t] = x + n * xs[0] + oh * p.stride_h * xs[2] + ow * p.stride_w * xs[3] + g * Cg + cb * kCB;
        }
        cpu::gemm_rows_acc(Kg, count, a.data(), b.data(), acc, kCB);
      }
    }
  });

  // dw = the parts' sums added in part order.
  const int64_t part_stride = G * c_blocks * block_size;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      T* dwk = dw + kk * p.w_strides[0];
      for (int64_t c = 0; c < Cg; ++c) {
        const T* first = partial.get() + ((g * c_blocks + c / kCB) * Kg + k) * kCB + c % kCB;
        T total = first[0];
        for (int64_t part = 1; part < parts; ++part) total += first[part * part_stride];
        dwk[c * p.w_strides[1]] = total;
      }
    }
  });
}

template void conv2d_wgrad_1x1_channels_last<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_1x1_channels_last<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
