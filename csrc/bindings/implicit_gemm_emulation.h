// Serial CPU emulation of the implicit-GEMM conv2d kernels (csrc/cuda/implicit_gemm_f32.cuh and the
// conv2d_*_implicit_gemm.cu, conv2d_wgrad_reduce.cu, conv2d_bgrad.cu launches): the same gathers,
// tile shapes and their host-side choice, split-K partition, per-thread fragments, epilogues and
// fixed-order reductions, each output element accumulated by fma in increasing k exactly as its
// GPU thread does. In float it therefore gives the kernels' bits; in double the tests compare it
// with the reference. Not emulated: the thread-to-load mapping (which cannot change a result),
// shared memory, cp.async and synchronisation.
//   x, dx: (N, C, H, W)   w, dw: (K, C/groups, R, S)   y, dy: (N, K, P, Q)   b, db: (K,)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fastconv/conv.h"
#include "fastconv/conv_index.h"

namespace fastconv {
namespace emulation {

using conv_index::GemmTile;

// One GEMM launch: grid (M tiles, N tiles, groups * splits), each CTA with (bm/8) x (bn/8) threads
// owning fragment_index() rows and columns. store(group, split, m, n, acc) is the epilogue.
template <typename T, class Gather, class Store>
void implicit_gemm(const Gather& g, const T* a, const T* b, int64_t groups, int32_t splits, GemmTile tile,
                   Store&& store) {
  const conv_index::GemmTileShape t = conv_index::gemm_tile_shape(tile);
  const int32_t bm = t.bm, bn = t.bn, bk = t.bk;
  std::vector<typename Gather::Row> rows(bm);
  std::vector<typename Gather::Col> cols(bn);
  std::vector<T> As(size_t(bk) * bm), Bs(size_t(bk) * bn), acc(size_t(bm) * bn);
  for (int64_t z = 0; z < groups * splits; ++z) {
    const int32_t group = int32_t(z / splits), split = int32_t(z % splits);
    const T* ag = a + group * g.a_group;
    const T* bg = b + group * g.b_group;
    int32_t k_begin, k_end;
    conv_index::splitk_range(g.gemm_k, splits, split, bk, k_begin, k_end);
    const int32_t k_tiles = (k_end - k_begin + bk - 1) / bk;
    for (int32_t m0 = 0; m0 < g.gemm_m; m0 += bm) {
      for (int32_t n0 = 0; n0 < g.gemm_n; n0 += bn) {
        for (int32_t i = 0; i < bm; ++i) rows[i] = g.a_row(m0 + i);
        for (int32_t j = 0; j < bn; ++j) cols[j] = g.b_col(n0 + j);
        std::fill(acc.begin(), acc.end(), T(0));
        for (int32_t kt = 0; kt < k_tiles; ++kt) {
          const int32_t kbase = k_begin + kt * bk;
          for (int32_t kl = 0; kl < bk; ++kl) {
            const int32_t kk = kbase + kl;
            for (int32_t ml = 0; ml < bm; ++ml) {
              int64_t off = 0;
              const bool ok = kk < k_end && g.a_offset(rows[ml], kk, off);
              As[size_t(kl) * bm + ml] = ok ? ag[off] : T(0);
            }
            for (int32_t nl = 0; nl < bn; ++nl) {
              int64_t off = 0;
              const bool ok = kk < k_end && g.b_offset(cols[nl], kk, off);
              Bs[size_t(kl) * bn + nl] = ok ? bg[off] : T(0);
            }
          }
          for (int32_t tm = 0; tm < bm / 8; ++tm)
            for (int32_t tn = 0; tn < bn / 8; ++tn)
              for (int32_t k = 0; k < bk; ++k)
                for (int32_t i = 0; i < 8; ++i)
                  for (int32_t j = 0; j < 8; ++j) {
                    const int32_t ml = conv_index::fragment_index(bm, tm, i), nl = conv_index::fragment_index(bn, tn, j);
                    T& c = acc[size_t(ml) * bn + nl];
                    c = std::fma(As[size_t(k) * bm + ml], Bs[size_t(k) * bn + nl], c);
                  }
        }
        for (int32_t tm = 0; tm < bm / 8; ++tm)
          for (int32_t tn = 0; tn < bn / 8; ++tn)
            for (int32_t i = 0; i < 8; ++i)
              for (int32_t j = 0; j < 8; ++j) {
                const int32_t ml = conv_index::fragment_index(bm, tm, i), nl = conv_index::fragment_index(bn, tn, j);
                store(group, split, m0 + ml, n0 + nl, acc[size_t(ml) * bn + nl]);
              }
      }
    }
  }
}

// tile_override: a forced tile shape (tests), else the kernels' choice.
inline GemmTile pick_tile(const int* tile_override, int64_t gemm_m, int64_t gemm_n, int64_t groups) {
  return tile_override ? GemmTile(*tile_override) : conv_index::choose_gemm_tile(gemm_m, gemm_n, groups);
}

// y = conv(x, w) + b (b may be null; b_stride describes it).
template <typename T>
void conv2d_fprop_implicit_gemm(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y,
                                const int* tile_override = nullptr) {
  const conv_index::Conv2dFpropGather g = conv_index::make_fprop_gather(p);
  implicit_gemm(g, x, w, p.groups, 1, pick_tile(tile_override, g.gemm_m, g.gemm_n, p.groups),
                [&](int32_t group, int32_t, int32_t m, int32_t n, T v) {
                  int64_t off;
                  if (!g.c_offset(m, n, off)) return;
                  if (b != nullptr) v += b[(int64_t(group) * g.gemm_n + n) * p.b_stride];
                  y[group * g.c_group + off] = v;
                });
}

// dx from dy and w, one GEMM per stride phase (x_strides describe dx).
template <typename T>
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* w, T* dx,
                                const int* tile_override = nullptr) {
  for (int32_t phase = 0; phase < int32_t(p.stride_h * p.stride_w); ++phase) {
    const conv_index::Conv2dDgradGather g = conv_index::make_dgrad_gather(p, phase);
    implicit_gemm(g, dy, w, p.groups, 1, pick_tile(tile_override, g.gemm_m, g.gemm_n, p.groups),
                  [&](int32_t group, int32_t, int32_t m, int32_t c, T v) {
                    int64_t off;
                    if (g.c_offset(m, c, off)) dx[group * g.c_group + off] = v;
                  });
  }
}

// dw from dy and x (w_strides describe dw). splits = 0: the kernels' choice. partial: splits *
// groups * (K/groups) * R*S*C/groups elements when splits > 1 (the caller's workspace).
template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw, T* partial, int32_t splits = 0,
                                const int* tile_override = nullptr) {
  const conv_index::Conv2dWgradGather g = conv_index::make_wgrad_gather(p);
  if (splits <= 0) splits = conv_index::conv2d_wgrad_splits(p);
  if (splits > 1 && partial == nullptr) throw std::invalid_argument("conv2d_wgrad_implicit_gemm: workspace required");
  const int64_t per_group = int64_t(g.gemm_m) * g.gemm_n, total = p.groups * per_group;
  implicit_gemm(g, dy, x, p.groups, splits, pick_tile(tile_override, g.gemm_m, g.gemm_n, p.groups),
                [&](int32_t group, int32_t split, int32_t m, int32_t n, T v) {
                  if (m >= g.gemm_m || n >= g.gemm_n) return;
                  if (splits > 1) {
                    partial[((split * p.groups + group) * g.gemm_m + m) * int64_t(g.gemm_n) + n] = v;
                    return;
                  }
                  int64_t off;
                  if (g.c_offset(m, n, off)) dw[group * g.c_group + off] = v;
                });
  if (splits <= 1) return;
  for (int64_t i = 0; i < total; ++i) {  // conv2d_wgrad_reduce_kernel, one element per thread
    T sum = T(0);
    for (int32_t s = 0; s < splits; ++s) sum += partial[s * total + i];
    const int64_t group = i / per_group, mn = i % per_group;
    int64_t off;
    if (g.c_offset(int32_t(mn / g.gemm_n), int32_t(mn % g.gemm_n), off)) dw[group * g.c_group + off] = sum;
  }
}

// db[k] (b_stride) = sum of dy over (n, p, q): conv2d_bgrad_kernel's 256 strided lanes, then its tree.
template <typename T>
void conv2d_bgrad(const Conv2dParams& p, const T* dy, T* db) {
  constexpr int kLanes = 256;
  const int32_t npq = int32_t(p.N * p.P * p.Q);
  const conv_index::FastDivmod div_pq(int32_t(p.P * p.Q)), div_q(int32_t(p.Q));
  T lanes[kLanes];
  for (int64_t k = 0; k < p.K; ++k) {
    const T* dyk = dy + k * p.y_strides[1];
    for (int t = 0; t < kLanes; ++t) {
      T sum = T(0);
      for (int32_t i = t; i < npq; i += kLanes) {
        int32_t n, pq, pp, q;
        div_pq.divmod(i, n, pq);
        div_q.divmod(pq, pp, q);
        sum += dyk[n * p.y_strides[0] + pp * p.y_strides[2] + q * p.y_strides[3]];
      }
      lanes[t] = sum;
    }
    for (int width = kLanes / 2; width > 0; width /= 2)
      for (int t = 0; t < width; ++t) lanes[t] += lanes[t + width];
    db[k * p.b_stride] = lanes[0];
  }
}

}  // namespace emulation
}  // namespace fastconv
