// conv2d backward-data: the transpose of fprop's implicit GEMM, written as a gather so that every
// dx element is produced by exactly one task (no scatter races, deterministic).
//   dy: (N, K, P, Q)   w: (K, C/G, R, S)   dx: (N, C, H, W)
// dx[n, c, h, v] = sum over k in c's group, r, s of w[k, c, r, s] * dy[n, k, p, q]
//   where h = p * stride_h - pad_h + r * dilation_h (and likewise v, q), when such p, q exist.
// Per task (g, tile of input pixels of the batch): gather the (K/G * R * S) x tile matrix of dy values each
// input pixel receives (zero where no output pixel reaches it) and multiply by the group's weights
// transposed to (C/G) x (K/G * R * S).
#include <vector>

#include "conv2d_tiles.h"
#include "conv2d_algorithms.h"
#include "parallel.h"

namespace fastconv {

namespace {

// For tap offset `tap` (r * dilation) and input coordinate h: the output row p with
// p * stride - pad + tap == h, or -1 when there is none inside [0, out_extent).
inline int64_t source_index(int64_t h, int64_t tap, int64_t stride, int64_t pad, int64_t out_extent) {
  const int64_t num = h + pad - tap;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out_extent ? o : -1;
}

// offset[(r * S + s) * TP + t]: where, from channel 0 of dy, input pixel pix0 + t (counted over
// the whole batch) finds the output pixel
// that tap (r, s) connects it to, or kNoTap. out_offset[t]: the pixel's offset from channel 0 of dx.
void build_source_table(const Conv2dParams& p, int64_t pix0, int64_t count, std::vector<int64_t>& offset,
                        std::vector<int64_t>& out_offset) {
  constexpr int64_t TP = cpu::kTilePixels;
  offset.assign(p.R * p.S * TP, cpu::kNoTap);
  out_offset.assign(TP, 0);
  const int64_t HW = p.H * p.W;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t n = (pix0 + t) / HW, hv = (pix0 + t) % HW, h = hv / p.W, v = hv % p.W;
    out_offset[t] = n * p.x_strides[0] + h * p.x_strides[2] + v * p.x_strides[3];
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t oh = source_index(h, r * p.dilation_h, p.stride_h, p.pad_h, p.P);
      if (oh < 0) continue;
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t ow = source_index(v, s * p.dilation_w, p.stride_w, p.pad_w, p.Q);
        if (ow >= 0)
          offset[(r * p.S + s) * TP + t] = n * p.y_strides[0] + oh * p.y_strides[2] + ow * p.y_strides[3];
      }
    }
  }
}

}  // namespace

template <typename T>
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t RS = p.R * p.S, J = Kg * RS, HW = p.H * p.W;
  if (p.N == 0 || p.C == 0 || HW == 0) return;

  // Transposed weights per group, rows c, columns j = (k, r, s), in GEMM panels.
  const int64_t group_stride = cpu::panel_count(Cg) * cpu::kPanelRows * J;
  std::vector<T> wt(static_cast<size_t>(G * group_stride));
  for (int64_t g = 0; g < G; ++g)
    cpu::pack_panels<T>(Cg, J, [&](int64_t c, int64_t j) {
      const int64_t k = j / RS, r = (j / p.S) % p.R, s = j % p.S;
      return w[(g * Kg + k) * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3]];
    }, wt.data() + g * group_stride);

  constexpr int64_t TP = cpu::kTilePixels;
  const int64_t NHW = p.N * HW, tiles = cpu::ceil_div(NHW, TP);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;
  parallel_for(0, G * tiles, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> gathered(static_cast<size_t>(J * TP));
    std::vector<T> out(static_cast<size_t>(Cg * TP));
    std::vector<int64_t> offset, out_offset;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t tile = task % tiles, g = task / tiles;
      const int64_t pix0 = tile * TP, count = std::min(TP, NHW - pix0);
      build_source_table(p, pix0, count, offset, out_offset);
      for (int64_t k = 0; k < Kg; ++k) {
        const T* dyk = dy + (g * Kg + k) * ys[1];
        for (int64_t rs = 0; rs < RS; ++rs)
          cpu::gather_row(dyk, offset.data() + rs * TP, TP, gathered.data() + (k * RS + rs) * TP);
      }
      cpu::gemm_tile(Cg, J, wt.data() + g * group_stride, gathered.data(), out.data());
      for (int64_t c = 0; c < Cg; ++c) {
        T* dxc = dx + (g * Cg + c) * xs[1];
        const T* src = out.data() + c * TP;
        for (int64_t t = 0; t < count; ++t) dxc[out_offset[t]] = src[t];
      }
    }
  });
}

template void conv2d_dgrad_implicit_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_dgrad_implicit_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
