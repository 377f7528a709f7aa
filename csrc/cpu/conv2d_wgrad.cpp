// conv2d backward-weight.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride_h - pad_h + r*dil_h, ...]
// Each task owns a block of dw (group, block of K/G, block of (c, r, s)) and runs the whole
// reduction over images and pixel tiles in a fixed order, so the result is the same bits for any
// thread count and block choice: no partial sums to merge, no atomics.
#include <vector>

#include "conv2d_tiles.h"
#include "parallel.h"

namespace fastconv {

template <typename T>
void conv2d_wgrad(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  check_conv2d_params(p);
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Cg * RS, PQ = p.P * p.Q;
  if (p.K == 0 || J == 0) return;

  // Blocks: (c, r, s) in blocks of whole channels, K split further when there are too few tasks.
  const int64_t c_block = std::max<int64_t>(1, std::min(Cg, 64 / RS));
  const int64_t c_blocks = cpu::ceil_div(Cg, c_block);
  const int64_t want = 4 * static_cast<int64_t>(get_num_threads());
  int64_t k_blocks = 1;
  while (G * c_blocks * k_blocks < want && Kg / (k_blocks * 2) >= 8) k_blocks *= 2;
  const int64_t k_block = cpu::ceil_div(Kg, k_blocks);
  const int64_t tiles = cpu::ceil_div(PQ, cpu::kTilePixels);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  parallel_for(0, G * c_blocks * k_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> patch(static_cast<size_t>(c_block * RS * cpu::kTilePixels));
    std::vector<T> grad(static_cast<size_t>(k_block * cpu::kTilePixels));
    std::vector<T> acc(static_cast<size_t>(k_block * c_block * RS));
    cpu::TapTable taps;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t kb = task % k_blocks, cb = (task / k_blocks) % c_blocks, g = task / (k_blocks * c_blocks);
      const int64_t k0 = kb * k_block, nk = std::min(k_block, Kg - k0);
      const int64_t c0 = cb * c_block, nc = std::min(c_block, Cg - c0);
      const int64_t nj = nc * RS;
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t n = 0; n < p.N; ++n) {
        for (int64_t tile = 0; tile < tiles; ++tile) {
          const int64_t pix0 = tile * cpu::kTilePixels, count = std::min(cpu::kTilePixels, PQ - pix0);
          taps.build(pix0, count, p.Q, p.R, p.S, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h,
                     p.dilation_w, p.H, p.W);
          for (int64_t c = 0; c < nc; ++c) {
            const T* xc = x + n * xs[0] + (g * Cg + c0 + c) * xs[1];
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t s = 0; s < p.S; ++s) {
                T* dst = patch.data() + ((c * p.R + r) * p.S + s) * cpu::kTilePixels;
                const int64_t* hrow = taps.row.data() + r * cpu::kTilePixels;
                const int64_t* wcol = taps.col.data() + s * cpu::kTilePixels;
                for (int64_t t = 0; t < cpu::kTilePixels; ++t)
                  dst[t] = (hrow[t] >= 0 && wcol[t] >= 0) ? xc[hrow[t] * xs[2] + wcol[t] * xs[3]] : T(0);
              }
          }
          for (int64_t k = 0; k < nk; ++k) {
            const T* dyk = dy + n * ys[0] + (g * Kg + k0 + k) * ys[1];
            T* dst = grad.data() + k * cpu::kTilePixels;
            for (int64_t t = 0; t < count; ++t) {
              const int64_t pq = pix0 + t;
              dst[t] = dyk[(pq / p.Q) * ys[2] + (pq % p.Q) * ys[3]];
            }
            for (int64_t t = count; t < cpu::kTilePixels; ++t) dst[t] = T(0);
          }
          for (int64_t k = 0; k < nk; ++k)
            for (int64_t j = 0; j < nj; ++j)
              acc[k * nj + j] += cpu::dot_tile(grad.data() + k * cpu::kTilePixels, patch.data() + j * cpu::kTilePixels);
        }
      }
      for (int64_t k = 0; k < nk; ++k)
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < p.R; ++r)
            for (int64_t s = 0; s < p.S; ++s)
              dw[(g * Kg + k0 + k) * p.w_strides[0] + (c0 + c) * p.w_strides[1] + r * p.w_strides[2] +
                 s * p.w_strides[3]] = acc[k * nj + (c * p.R + r) * p.S + s];
    }
  });
}

template void conv2d_wgrad<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
