// conv2d backward-data of a strided 1x1 convolution on channels-last dy and dx, in one pass over dx.
//   dy: (N, K, P, Q)   w: (K, C/G, 1, 1)   dx: (N, C, H, W), channels contiguous in dy and dx
// Without padding, input pixel (h, v) is reached only when h and v are multiples of the strides,
// by output pixel (h / stride_h, v / stride_w): there dx is the GEMM dy[pixel] * w, everywhere else
// zero. A task owns the dx rows [p * stride_h, (p + 1) * stride_h) of one image: for each run of 6
// output pixels it stores the GEMM results from the kernel's registers (ukernels/igemm.h), then the
// zeros between and below them, so the zeros stream out while the next run computes instead of in a
// separate fill over the whole of dx (three quarters of it at stride 2).
// Every dx element is written by one task, each sum over k in order: deterministic.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t kMR = cpu::kIgemmRows, kNR = cpu::kIgemmCols;
}  // namespace

bool conv2d_dgrad_1x1_channels_last_applies(const Conv2dParams& p) {
  return p.R == 1 && p.S == 1 && p.pad_h == 0 && p.pad_w == 0 && (p.stride_h > 1 || p.stride_w > 1) &&
         p.x_strides[1] == 1 && p.y_strides[1] == 1;
}

template <typename T>
void conv2d_dgrad_1x1_channels_last(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t sh = p.stride_h, sw = p.stride_w;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  if (p.N == 0 || p.C == 0 || p.H == 0 || p.W == 0) return;

  // The forward view: dy's K/G channels in, dx's C/G channels out. Bp[g][cb][k][n] = w[g * Kg + k,
  // cb * 64 + n], zero past C/G.
  const int64_t c_blocks = cpu::ceil_div(Cg, kNR), b_stride = Kg * kNR;
  const auto Bp = cpu::scratch<T>(G * c_blocks * b_stride);
  for (int64_t gc = 0; gc < G * c_blocks; ++gc) {
    const int64_t g = gc / c_blocks, c0 = (gc % c_blocks) * kNR, nc = std::min(kNR, Cg - c0);
    for (int64_t k = 0; k < Kg; ++k) {
      T* row = Bp.get() + (gc * Kg + k) * kNR;
      const T* src = w + (g * Kg + k) * p.w_strides[0] + c0 * p.w_strides[1];
      for (int64_t n = 0; n < nc; ++n) row[n] = src[n * p.w_strides[1]];
      for (int64_t n = nc; n < kNR; ++n) row[n] = T(0);
    }
  }

  // Zeros of input pixels [v0, v1) of row h: channels-last pixels, one run when they are adjacent.
  const auto zero_pixels = [&](T* row, int64_t v0, int64_t v1) {
    if (v1 <= v0) return;
    if (xs[3] == p.C) {
      cpu::stream_span<T>(nullptr, (v1 - v0) * xs[3], row + v0 * xs[3]);
    } else {
      for (int64_t v = v0; v < v1; ++v) cpu::stream_span<T>(nullptr, p.C, row + v * xs[3]);
    }
  };

  // The computed pixels of a large dx bypass the caches as the zeros do (igemm.h, stream).
  const bool stream = cpu::stream_output(p.N * p.H * p.W * p.C * static_cast<int64_t>(sizeof(T)));
  parallel_for(0, p.N * p.P, 1, [&](int64_t lo, int64_t hi) {
    const T* a[kMR];
    T* out[kMR];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t n = task / p.P, oh = task % p.P;
      const int64_t h0 = oh * sh, h1 = std::min(h0 + sh, p.H);
      T* image = dx + n * xs[0];
      for (int64_t q0 = 0; q0 < p.Q; q0 += kMR) {
        const int64_t rows = std::min(kMR, p.Q - q0);
        for (int64_t i = 0; i < kMR; ++i) a[i] = dy + n * ys[0] + oh * ys[2] + (q0 + std::min(i, rows - 1)) * ys[3];
        for (int64_t g = 0; g < G; ++g) {
          const T* ag[kMR];
          for (int64_t i = 0; i < kMR; ++i) ag[i] = a[i] + g * Kg;
          for (int64_t cb = 0; cb < c_blocks; ++cb) {
            const int64_t c0 = cb * kNR, nc = std::min(kNR, Cg - c0);
            for (int64_t i = 0; i < rows; ++i) out[i] = image + h0 * xs[2] + (q0 + i) * sw * xs[3] + g * Cg + c0;
            cpu::igemm_6x64_rows(rows, nc, 1, Kg, ag, Bp.get() + (g * c_blocks + cb) * b_stride, out, nullptr,
                                 nullptr, stream);
          }
        }
        // The pixels these outputs do not reach: between them in row h0 (and past the last one to
        // the row's end), and all of them in the rows below, up to the next task's row.
        const int64_t v0 = q0 * sw, v1 = q0 + rows == p.Q ? p.W : (q0 + rows) * sw;
        if (sw > 1)
          for (int64_t i = 0; i < rows; ++i)
            zero_pixels(image + h0 * xs[2], (q0 + i) * sw + 1, std::min((q0 + i + 1) * sw, v1));
        for (int64_t h = h0 + 1; h < h1; ++h) zero_pixels(image + h * xs[2], v0, v1);
      }
    }
    cpu::store_fence();  // the streamed zeros visible before the pass returns
  });
}

template void conv2d_dgrad_1x1_channels_last<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_1x1_channels_last<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
