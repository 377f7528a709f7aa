// conv2d backward-weight of a unit-stride 1x1 convolution without padding on planar x and dy (NCHW),
// on the reduction GEMM (ukernels/gemm_nt.h) with both operands read where they lie.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, 1, 1)
// dw[k, c] = sum over images n and pixels t of x[n, c, t] * dy[n, k, t]: per group, the sum over n
// of x[n] (C/G x HW) times dy[n]^T (HW x K/G). Both lie along the reduction (pixels), as gemm_nt
// wants them, so nothing is gathered: only the partial last chunk of an image plane (length not a
// multiple of 16) is copied, with zeros past its end. (At stride > 1 the reached pixels of x would
// have to be gathered first; that measured no faster than the patch-row form, which does so too.)
//
// Determinism: each image plane is cut into chunks, and the chunks of the batch into parts, both
// fixed by the problem (never by the thread count). A task owns (part, group, block of channels c),
// sums its part's chunks in order into a private partial, and a second pass adds the parts in order.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/gemm_nt.h"

namespace fastconv {

namespace {
constexpr int64_t kMaxParts = 16;
constexpr int64_t kCBlock = 64;              // channels c per task
constexpr int64_t kDyChunkValues = 1 << 16;  // K/G x chunk values of dy per call: 256 KB of floats, in L2

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
}  // namespace

bool conv2d_wgrad_1x1_planar_applies(const Conv2dParams& p) {
  return p.R == 1 && p.S == 1 && p.pad_h == 0 && p.pad_w == 0 && p.stride_h == 1 && p.stride_w == 1 &&
         p.y_strides[3] == 1 && p.y_strides[2] == p.Q &&
         p.x_strides[3] == 1 && p.x_strides[2] == p.W && p.P * p.Q >= cpu::kNtLanes &&
         p.C_per_group() % cpu::kNtRows == 0 && p.K_per_group() % cpu::kNtRows == 0;
}

template <typename T>
void conv2d_wgrad_1x1_planar(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t PQ = p.P * p.Q;
  if (p.K == 0 || Cg == 0) return;
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  // Chunks of an image plane: about kDyChunkValues / Kg pixels each, a multiple of 16 but the last.
  const int64_t max_chunk = std::max<int64_t>(256, kDyChunkValues / Kg);
  const int64_t chunks = cpu::ceil_div(PQ, max_chunk);
  const int64_t chunk = round_up(cpu::ceil_div(PQ, chunks), cpu::kNtLanes);
  const int64_t units = p.N * chunks;
  const int64_t units_per_part = cpu::ceil_div(units, kMaxParts), parts = cpu::ceil_div(units, units_per_part);
  const int64_t c_blocks = cpu::ceil_div(Cg, kCBlock);

  // partial[part][g][c][k]: one part's sum.
  const int64_t part_stride = G * Cg * Kg;
  const auto partial = cpu::scratch<T>(parts * part_stride);

  parallel_for(0, parts * G * c_blocks, 1, [&](int64_t lo, int64_t hi) {
    const auto a = cpu::scratch<T>(kCBlock * chunk), b = cpu::scratch<T>(Kg * chunk);  // partial chunks
    const auto sum = cpu::scratch<T>(kCBlock * Kg);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t cb = task % c_blocks, g = (task / c_blocks) % G, part = task / (c_blocks * G);
      const int64_t c0 = cb * kCBlock, nc = std::min(kCBlock, Cg - c0);
      T* acc = partial.get() + part * part_stride + (g * Cg + c0) * Kg;
      std::fill(acc, acc + nc * Kg, T(0));
      const int64_t unit_end = std::min(units, (part + 1) * units_per_part);
      for (int64_t unit = part * units_per_part; unit < unit_end; ++unit) {
        const int64_t n = unit / chunks, t0 = (unit % chunks) * chunk, count = std::min(chunk, PQ - t0);
        const int64_t width = round_up(count, cpu::kNtLanes);
        const T* dyt = dy + n * ys[0] + g * Kg * ys[1] + t0;
        const T* xt = x + n * xs[0] + (g * Cg + c0) * xs[1];
        const T* A = xt + t0;
        int64_t lda = xs[1];
        const T* B = dyt;
        int64_t ldb = ys[1];
        if (count < width) {  // zeros past the plane's end in both operands
          for (int64_t k = 0; k < Kg; ++k) {
            std::copy(dyt + k * ys[1], dyt + k * ys[1] + count, b.get() + k * chunk);
            std::fill(b.get() + k * chunk + count, b.get() + k * chunk + width, T(0));
          }
          for (int64_t c = 0; c < nc; ++c) {
            std::copy(A + c * xs[1], A + c * xs[1] + count, a.get() + c * chunk);
            std::fill(a.get() + c * chunk + count, a.get() + c * chunk + width, T(0));
          }
          A = a.get(), lda = chunk, B = b.get(), ldb = chunk;
        }
        cpu::gemm_nt(nc, Kg, width, A, lda, B, ldb, sum.get(), Kg);
        for (int64_t i = 0; i < nc * Kg; ++i) acc[i] += sum[i];
      }
    }
  });

  // dw = the parts' sums added in part order.
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      T* dwk = dw + kk * p.w_strides[0];
      for (int64_t c = 0; c < Cg; ++c) {
        const T* first = partial.get() + (g * Cg + c) * Kg + k;
        T total = first[0];
        for (int64_t part = 1; part < parts; ++part) total += first[part * part_stride];
        dwk[c * p.w_strides[1]] = total;
      }
    }
  });
}

template void conv2d_wgrad_1x1_planar<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_1x1_planar<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
