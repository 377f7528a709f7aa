// conv2d backward-weight on small images as an indirect GEMM (ukernels/igemm.h) over planar input
// rows, for unit horizontal stride.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C, R, S)
// dw[k, j] = sum over output rows (n, p) and columns q of X[j](n, p, q) * dy[n, k, p, q], with
// j = (c, r, s) and X[j](n, p, q) = x[n, c, p*stride_h - pad_h + r*dil_h, q - pad_w + s*dil_w].
// In a zero-padded planar copy of x, X[j] along q is a contiguous run of the plane of c, so one
// pointer per (output row, j) is the kernel's "tap" of Q values, and dy's pixels, 64 channels each,
// are its packed B rows as they lie (channels-last dy with K = 64) or after one copy. Nothing is
// gathered per tap: the patch matrix the tile GEMM form builds (conv2d_wgrad_channels_last.cpp)
// cost as much as its multiplications on the seed model's 11x11 layer.
//
// Determinism: the output rows are cut into parts fixed by the problem alone; one kernel call sums a
// part's rows in order, and the parts are added in order at the end.
#include <algorithm>
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"
#include "ukernels/igemm.h"

namespace fastconv {

namespace {
constexpr int64_t kMR = cpu::kIgemmRows, kNR = cpu::kIgemmCols;
constexpr int64_t kPartPixels = 1024;  // reduction length of one kernel call, at least one row
constexpr int64_t kMaxParts = 64;
}  // namespace

// Measured against the channels-last tile GEMM form, one thread: 32x32x13x13 -> 64 3x3 (the seed
// model's second layer) 1.3-1.45x faster; 8x256x7x7 -> 256 and 8x512x4x4 -> 512 slower (0.85x,
// 0.7x: several filter blocks, rows of 4 to 7 pixels per pointer), 16x128x12x12 -> 128 even.
bool conv2d_wgrad_planar_indirect_gemm_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.stride_w == 1 && p.C >= 8 && p.C <= 64 && p.K >= 16 && p.K <= kNR && p.R * p.S > 1 &&
         p.Q >= 8 && p.P * p.Q <= 144;
}

template <typename T>
void conv2d_wgrad_planar_indirect_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t C = p.C, K = p.K, RS = p.R * p.S, J = C * RS, NP = p.N * p.P, PQ = p.P * p.Q;
  if (K == 0 || J == 0 || NP == 0 || p.Q == 0) return;
  const int64_t Hp = (p.P - 1) * p.stride_h + (p.R - 1) * p.dilation_h + 1;
  const int64_t Wp = (p.Q - 1) + (p.S - 1) * p.dilation_w + 1;
  const int64_t plane = Hp * Wp;

  // xp[n][c][hp][wp]: the input each output row reads, zero in the padding.
  cpu::Scratch<T> xp = cpu::scratch<T>(p.N * C * plane);
  const int64_t* xs = p.x_strides;
  parallel_for(0, p.N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      T* img = xp.get() + n * C * plane;
      std::fill(img, img + C * plane, T(0));
      for (int64_t hp = 0; hp < Hp; ++hp) {
        const int64_t h = hp - p.pad_h;
        if (h < 0 || h >= p.H) continue;
        const int64_t v_lo = std::max<int64_t>(0, p.pad_w), v_hi = std::min(Wp, p.W + p.pad_w);
        const T* src = x + n * xs[0] + h * xs[2] - p.pad_w * xs[3];
        T* dst = img + hp * Wp;
        if (xs[3] < xs[1]) {  // planar rows: one channel's row at a time
          for (int64_t c = 0; c < C; ++c)
            for (int64_t v = v_lo; v < v_hi; ++v) dst[c * plane + v] = src[c * xs[1] + v * xs[3]];
        } else {
          for (int64_t v = v_lo; v < v_hi; ++v)
            for (int64_t c = 0; c < C; ++c) dst[c * plane + v] = src[c * xs[1] + v * xs[3]];
        }
      }
    }
  });

  // dy as the kernel's B: [kb][pixel (n, p, q)][64], zero past K. Channels-last dy with K = 64 is
  // that already.
  const int64_t k_blocks = cpu::ceil_div(K, kNR);
  const int64_t* ys = p.y_strides;
  bool dy_in_place = K == kNR && ys[1] == 1 && ys[3] == kNR && ys[2] == p.Q * kNR && ys[0] == PQ * kNR;
  cpu::Scratch<T> dyp = cpu::scratch<T>(dy_in_place ? 0 : k_blocks * p.N * PQ * kNR);
  if (!dy_in_place && K == kNR) {
    // Planar dy with 64 filters: the blocked channels-last copy is the packed B.
    cpu::copy_to_channels_last(dy, p.N, K, p.P, p.Q, ys, dyp.get());
  } else if (!dy_in_place) {
    parallel_for(0, NP, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t row = lo; row < hi; ++row) {
        const int64_t n = row / p.P, oh = row % p.P;
        for (int64_t kb = 0; kb < k_blocks; ++kb) {
          T* dst = dyp.get() + (kb * NP + row) * p.Q * kNR;
          const int64_t k0 = kb * kNR, nk = std::min(kNR, K - k0);
          for (int64_t q = 0; q < p.Q; ++q) {
            const T* src = dy + n * ys[0] + oh * ys[2] + q * ys[3] + k0 * ys[1];
            for (int64_t k = 0; k < nk; ++k) dst[q * kNR + k] = src[k * ys[1]];
            for (int64_t k = nk; k < kNR; ++k) dst[q * kNR + k] = T(0);
          }
        }
      }
    });
  }
  const T* B = dy_in_place ? dy : dyp.get();

  // Offsets of X[j] in an image's planes, and the rows j past J read zeros (never stored).
  const int64_t j_tiles = cpu::ceil_div(J, kMR);
  std::vector<int64_t> j_at(static_cast<size_t>(j_tiles * kMR), -1);
  for (int64_t j = 0; j < J; ++j) {
    const int64_t c = j / RS, r = (j % RS) / p.S, s = j % p.S;
    j_at[j] = c * plane + r * p.dilation_h * Wp + s * p.dilation_w;
  }
  const std::vector<T> zeros(static_cast<size_t>(p.Q), T(0));

  const int64_t part_rows = std::max(cpu::ceil_div(kPartPixels, p.Q), cpu::ceil_div(NP, kMaxParts));
  const int64_t parts = cpu::ceil_div(NP, part_rows);
  // A task owns (part, k block, range of j tiles); the ranges only give every thread work.
  int64_t j_range = j_tiles;
  const int64_t want_tasks = 4 * static_cast<int64_t>(get_num_threads());
  while (parts * k_blocks * cpu::ceil_div(j_tiles, j_range) < want_tasks && j_range > 1) j_range = cpu::ceil_div(j_range, 2);
  const int64_t j_ranges = cpu::ceil_div(j_tiles, j_range);

  // partial[part][kb][j][64]: the kernel writes every value the reduction reads (j < J, k < K).
  const int64_t block_size = j_tiles * kMR * kNR;
  const auto partial = cpu::scratch<T>(parts * k_blocks * block_size);
  parallel_for(0, parts * k_blocks * j_ranges, 1, [&](int64_t lo, int64_t hi) {
    std::vector<const T*> ptrs(static_cast<size_t>(part_rows * kMR));
    std::vector<int64_t> row_at(static_cast<size_t>(part_rows));
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t jr = task % j_ranges, kb = (task / j_ranges) % k_blocks, part = task / (j_ranges * k_blocks);
      const int64_t row0 = part * part_rows, rows = std::min(part_rows, NP - row0);
      const int64_t nk = std::min(kNR, K - kb * kNR);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t n = (row0 + i) / p.P, oh = (row0 + i) % p.P;
        row_at[i] = n * C * plane + oh * p.stride_h * Wp;
      }
      const T* b = B + (kb * NP + row0) * p.Q * kNR;
      for (int64_t jt = jr * j_range; jt < std::min(j_tiles, (jr + 1) * j_range); ++jt) {
        for (int64_t i = 0; i < kMR; ++i) {
          const int64_t at = j_at[jt * kMR + i];
          const T** col = ptrs.data() + i;
          if (at < 0) {
            for (int64_t row = 0; row < rows; ++row) col[row * kMR] = zeros.data();
          } else {
            const T* base = xp.get() + at;
            for (int64_t row = 0; row < rows; ++row) col[row * kMR] = base + row_at[row];
          }
        }
        cpu::igemm_6x64(std::min(kMR, J - jt * kMR), nk, rows, p.Q, ptrs.data(), b,
                        partial.get() + (part * k_blocks + kb) * block_size + jt * kMR * kNR, kNR);
      }
    }
  });

  // dw = the parts' sums added in part order, a row j of 64 filters at a time (the parts' rows are
  // contiguous: one filter at a time read each value from a cache line of its own).
  parallel_for(0, k_blocks * J, 1, [&](int64_t lo, int64_t hi) {
    T total[kNR];
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t kb = task / J, j = task % J, k0 = kb * kNR, nk = std::min(kNR, K - k0);
      const T* first = partial.get() + kb * block_size + j * kNR;
      for (int64_t k = 0; k < nk; ++k) total[k] = first[k];
      for (int64_t part = 1; part < parts; ++part) {
        const T* row = first + part * k_blocks * block_size;
        for (int64_t k = 0; k < nk; ++k) total[k] += row[k];
      }
      const int64_t c = j / RS, r = (j % RS) / p.S, s = j % p.S;
      T* out = dw + k0 * p.w_strides[0] + c * p.w_strides[1] + r * p.w_strides[2] + s * p.w_strides[3];
      for (int64_t k = 0; k < nk; ++k) out[k * p.w_strides[0]] = total[k];
    }
  });
}

template void conv2d_wgrad_planar_indirect_gemm<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_planar_indirect_gemm<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
