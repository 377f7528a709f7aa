// conv2d backward-weight on channels-last data (x and dy with contiguous channels), on the tile GEMM.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, C/G, R, S)
// The weight gradient is a GEMM over output pixels t:
//   dw[k, j] += sum_t dy[t, k] * X[t, j],   j = (tap (r, s), c),  X[t, j] = x[t shifted by (r, s), c]
// run on the tile GEMM over chunks of T pixels: A panels are 6 consecutive dy channels of each pixel,
// B rows are 64 consecutive columns j of each pixel. Columns run through the channels of one tap and
// on into the next, so a block of 64 is filled whatever C/G is (C/G = 32: two taps per block) and
// each of its segments is a contiguous copy of input channels.
//
// Determinism as in conv2d_wgrad_implicit_gemm.cpp: parts of the reduction fixed by the problem,
// each summed in order by one task, then the parts added in order.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_tiles.h"
#include "parallel.h"
#include "scratch.h"

namespace fastconv {

namespace {
constexpr int64_t kChunk = 256;        // reduction length of one tile GEMM call
constexpr int64_t kPartPixels = 2048;  // a multiple of kChunk
constexpr int64_t kMaxParts = 64;
constexpr int64_t kCB = cpu::kTilePixels;  // columns j per block: the tile GEMM's column count
}  // namespace

bool conv2d_wgrad_channels_last_applies(const Conv2dParams& p) {
  return p.x_strides[1] == 1 && p.y_strides[1] == 1 && p.C_per_group() >= 8;
}

namespace {

// A run of columns of one block of B: input channels c .. c + len of tap (r, s), at column col.
struct Segment {
  int64_t col, r, s, c, len;
};

}  // namespace

template <typename T>
void conv2d_wgrad_channels_last(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t G = p.groups, Cg = p.C_per_group(), Kg = p.K_per_group();
  const int64_t taps = p.R * p.S, PQ = p.P * p.Q, NPQ = p.N * PQ, J = taps * Cg;
  if (p.K == 0 || Cg == 0) return;
  const int64_t part_pixels =
      std::max(kPartPixels, cpu::ceil_div(cpu::ceil_div(NPQ, kMaxParts), kChunk) * kChunk);
  const int64_t parts = std::max<int64_t>(1, cpu::ceil_div(NPQ, part_pixels));
  const int64_t j_blocks = cpu::ceil_div(J, kCB);
  const int64_t panels = cpu::panel_count(Kg);
  const int64_t* xs = p.x_strides;
  const int64_t* ys = p.y_strides;

  std::vector<std::vector<Segment>> segments(j_blocks);
  for (int64_t j = 0; j < J;) {
    const int64_t tap = j / Cg, c = j % Cg, col = j % kCB;
    const int64_t len = std::min(Cg - c, kCB - col);
    segments[j / kCB].push_back({col, tap / p.S, tap % p.S, c, len});
    j += len;
  }

  // A task owns (part, group, range of column blocks) and builds each chunk's A once for all its
  // blocks; the ranges only give every thread work and change no sum.
  int64_t jb_range = j_blocks;
  const int64_t want_tasks = 4 * static_cast<int64_t>(get_num_threads());
  while (parts * G * cpu::ceil_div(j_blocks, jb_range) < want_tasks && jb_range > 1) jb_range = cpu::ceil_div(jb_range, 2);
  const int64_t jb_ranges = cpu::ceil_div(j_blocks, jb_range);

  // partial[part][g][jb][k][jj]: each part's sum of column block jb.
  const int64_t block_size = Kg * kCB;
  const auto partial = cpu::scratch<T>(parts * G * j_blocks * block_size);

  // 1x1 filters at stride 1 without padding over dense channels-last x: a chunk's B rows are x's own
  // pixels, kCB channels of each, read in place (ldb = the pixel stride) instead of copied.
  const bool b_in_place = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
                          p.pad_w == 0 && xs[2] == p.W * xs[3] && xs[0] == p.H * xs[2] && Cg % kCB == 0;

  // A of one chunk of `count` pixels: panels of 6 dy channels per pixel, the reduction only as long
  // as the chunk (a short last chunk, e.g. 32 of the 288 pixels of the seed model's third layer at
  // batch 32, must not cost a full one); zero past K/G.
  const int64_t a_size = panels * cpu::kPanelRows * kChunk, chunks = cpu::ceil_div(NPQ, kChunk);
  const int64_t full_panels = Kg / cpu::kPanelRows, tail_rows = Kg % cpu::kPanelRows;
  const auto build_a = [&](int64_t g, int64_t pix0, int64_t count, T* a) {
    for (int64_t t = 0; t < count; ++t) {
      const int64_t pix = pix0 + t, n = pix / PQ, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
      const T* src = dy + n * ys[0] + oh * ys[2] + ow * ys[3] + g * Kg;
      // Full panels as fixed-length copies (the compiler's vector moves), then the short last one.
      for (int64_t panel = 0; panel < full_panels; ++panel) {
        T* dst = a + (panel * count + t) * cpu::kPanelRows;
        const T* s = src + panel * cpu::kPanelRows;
        for (int i = 0; i < cpu::kPanelRows; ++i) dst[i] = s[i];
      }
      if (tail_rows) {
        T* dst = a + (full_panels * count + t) * cpu::kPanelRows;
        const T* s = src + full_panels * cpu::kPanelRows;
        for (int64_t i = 0; i < cpu::kPanelRows; ++i) dst[i] = i < tail_rows ? s[i] : T(0);
      }
    }
  };
  // Where several tasks share a chunk (ranges of column blocks), its A is built once for all of
  // them, in parallel before the reduction, instead of by each task.
  const bool shared_a = jb_ranges > 1;
  cpu::Scratch<T> a_all;
  if (shared_a) {
    a_all = cpu::scratch<T>(G * chunks * a_size);
    parallel_for(0, G * chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t pix0 = (i % chunks) * kChunk;
        build_a(i / chunks, pix0, std::min(kChunk, NPQ - pix0), a_all.get() + i * a_size);
      }
    });
  }

  parallel_for(0, parts * G * jb_ranges, 1, [&](int64_t lo, int64_t hi) {
    const auto a_own = cpu::scratch<T>(shared_a ? 1 : a_size);
    const auto bm = cpu::scratch<T>(kChunk * kCB);
    std::vector<int64_t> pix_n(kChunk), pix_h(kChunk), pix_w(kChunk);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t jr = task % jb_ranges, g = (task / jb_ranges) % G, part = task / (jb_ranges * G);
      const int64_t jb_lo = jr * jb_range, jb_hi = std::min(j_blocks, jb_lo + jb_range);
      T* acc = partial.get() + ((part * G + g) * j_blocks + jb_lo) * block_size;
      std::fill(acc, acc + (jb_hi - jb_lo) * block_size, T(0));
      const int64_t part_end = std::min(NPQ, (part + 1) * part_pixels);
      for (int64_t pix0 = part * part_pixels; pix0 < part_end; pix0 += kChunk) {
        const int64_t count = std::min(kChunk, part_end - pix0);
        const T* a = a_own.get();
        if (shared_a) {
          a = a_all.get() + (g * chunks + pix0 / kChunk) * a_size;
        } else {
          build_a(g, pix0, count, a_own.get());
        }
        for (int64_t t = 0; t < count; ++t) {
          const int64_t pix = pix0 + t, oh = (pix % PQ) / p.Q, ow = pix % p.Q;
          pix_n[t] = pix / PQ, pix_h[t] = oh * p.stride_h - p.pad_h, pix_w[t] = ow * p.stride_w - p.pad_w;
        }
        for (int64_t jb = jb_lo; jb < jb_hi; ++jb) {
          T* acc_block = acc + (jb - jb_lo) * block_size;
          if (b_in_place && count == kChunk) {
            cpu::gemm_tile_acc(Kg, kChunk, a, x + pix0 * xs[3] + g * Cg + jb * kCB, xs[3], acc_block, kCB);
          } else {
            // B: the block's columns for each pixel; zero in the padding, past the chunk and past J.
            const int64_t used = std::min(kCB, J - jb * kCB);
            for (int64_t t = 0; t < count; ++t) {
              T* dst = bm.get() + t * kCB;
              for (const Segment& seg : segments[jb]) {
                const int64_t h = pix_h[t] + seg.r * p.dilation_h, v = pix_w[t] + seg.s * p.dilation_w;
                if (h < 0 || h >= p.H || v < 0 || v >= p.W) {
                  std::fill(dst + seg.col, dst + seg.col + seg.len, T(0));
                  continue;
                }
                const T* src = x + pix_n[t] * xs[0] + h * xs[2] + v * xs[3] + g * Cg + seg.c;
                cpu::copy_short(src, seg.len, dst + seg.col);
              }
              std::fill(dst + used, dst + kCB, T(0));
            }
            cpu::gemm_tile_acc(Kg, count, a, bm.get(), kCB, acc_block, kCB);
          }
        }
      }
    }
  });

  // dw = the parts' sums added in part order. Column j's place in a partial and in dw, computed once.
  std::vector<int64_t> at_partial(J), at_dw(J);
  for (int64_t j = 0; j < J; ++j) {
    const int64_t tap = j / Cg, c = j % Cg;
    at_partial[j] = (j / kCB) * block_size + j % kCB;
    at_dw[j] = c * p.w_strides[1] + (tap / p.S) * p.w_strides[2] + (tap % p.S) * p.w_strides[3];
  }
  const int64_t part_stride = G * j_blocks * block_size;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t kk = lo; kk < hi; ++kk) {
      const int64_t g = kk / Kg, k = kk % Kg;
      const T* first = partial.get() + g * j_blocks * block_size + k * kCB;
      T* dwk = dw + kk * p.w_strides[0];
      for (int64_t j = 0; j < J; ++j) {
        T total = first[at_partial[j]];
        for (int64_t part = 1; part < parts; ++part) total += first[part * part_stride + at_partial[j]];
        dwk[at_dw[j]] = total;
      }
    }
  });
}

template void conv2d_wgrad_channels_last<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_channels_last<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
