// conv2d backward-weight, depthwise (groups == C, K = C * M), direct.
//   dy: (N, K, P, Q)   x: (N, C, H, W)   dw: (K, 1, R, S)
// dw[k, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, k / M, p*stride_h - pad_h + r*dil_h, ...]
// Determinism: the reduction over the batch's output rows (n, p) is cut into fixed chunks of about
// kWgradChunkPixels output pixels (a function of the shape only). Each task owns one (channel
// block, chunk) and writes its partial sums to its own slot; the chunks' partials are then added
// in chunk order. Same bits for any thread count and every run; no atomics.
#include <vector>

#include "conv2d_algorithms.h"
#include "conv2d_depthwise.h"
#include "parallel.h"
#include "ukernels/dwconv.h"

namespace fastconv {

namespace {

using namespace cpu::depthwise;

struct Chunks {
  int64_t rows_per_chunk, count;  // over the flattened (n, p) output rows
  explicit Chunks(const Conv2dParams& p)
      : rows_per_chunk(std::max<int64_t>(1, kWgradChunkPixels / std::max<int64_t>(1, p.Q))),
        count(ceil_div(p.N * p.P, rows_per_chunk)) {}

  // Calls fn(n, p_begin, p_end) for the image segments of chunk ch, in order.
  template <typename Fn>
  void for_segments(const Conv2dParams& p, int64_t ch, Fn&& fn) const {
    const int64_t end = std::min(p.N * p.P, (ch + 1) * rows_per_chunk);
    for (int64_t row = ch * rows_per_chunk; row < end;) {
      const int64_t n = row / p.P, pa = row % p.P, pb = std::min(p.P, pa + (end - row));
      fn(n, pa, pb);
      row += pb - pa;
    }
  }
};

// dw[k, r, s] = sum over chunks ch (in order) of part[index(ch, k, t)], t = r * S + s.
template <typename T, typename Index>
void reduce_chunks(const Conv2dParams& p, int64_t chunks, const std::vector<T>& part, Index index, T* dw) {
  const int64_t RS = p.R * p.S;
  for (int64_t k = 0; k < p.K; ++k)
    for (int64_t t = 0; t < RS; ++t) {
      T sum = T(0);
      for (int64_t ch = 0; ch < chunks; ++ch) sum += part[index(ch, k, t)];
      dw[k * p.w_strides[0] + (t / p.S) * p.w_strides[2] + (t % p.S) * p.w_strides[3]] = sum;
    }
}

// Planes: task = (c, chunk). Per image segment, bands of output rows: the band's input rows of c are
// staged (PhaseRow, as in fprop) and each m runs one dwconv_rows_wgrad over the band.
template <typename T>
void wgrad_planes(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  const int64_t M = p.K / p.C, S = p.S, RS = p.R * p.S, sh = p.stride_h, dh = p.dilation_h;
  const PhaseRow row{p.stride_w, p.pad_w, p.Q + (S - 1) * p.dilation_w / p.stride_w};
  const int64_t row_len = row.size();
  const int64_t band = band_rows(p.P, sh, (p.R - 1) * dh, row_len, kStageBudget);
  const int64_t *xs = p.x_strides, *ys = p.y_strides;
  std::vector<int64_t> tap_offset(RS);
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < S; ++s) tap_offset[r * S + s] = r * dh * row_len + row.offset(s * p.dilation_w);
  const Chunks chunks(p);
  std::vector<T> part(static_cast<size_t>(p.C * chunks.count * M * RS));

  // The next task's x and dy rows start coming from memory while this task computes.
  auto prefetch_task = [&](int64_t task) {
    const int64_t c = task / chunks.count, ch = task % chunks.count;
    chunks.for_segments(p, ch, [&](int64_t n, int64_t pa, int64_t pb) {
      const int64_t h0 = std::max<int64_t>(0, pa * sh - p.pad_h);
      const int64_t h1 = std::min(p.H, (pb - 1) * sh - p.pad_h + (p.R - 1) * dh + 1);
      for (int64_t h = h0; h < h1; ++h) prefetch_row(x + n * xs[0] + c * xs[1] + h * xs[2], p.W, xs[3]);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t i = pa; i < pb; ++i) prefetch_row(dy + n * ys[0] + (c * M + m) * ys[1] + i * ys[2], p.Q, ys[3]);
    });
  };

  parallel_for(0, p.C * chunks.count, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage, dyt(ys[3] == 1 ? 0 : band * p.Q), sums(M * RS), res(RS);
    std::vector<const T*> in(RS);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t c = task / chunks.count, ch = task % chunks.count;
      if (task + 1 < hi) prefetch_task(task + 1);
      std::fill(sums.begin(), sums.end(), T(0));
      chunks.for_segments(p, ch, [&](int64_t n, int64_t pa, int64_t pb) {
        const T* xc = x + n * xs[0] + c * xs[1];
        for (int64_t p0 = pa; p0 < pb; p0 += band) {
          const int64_t p1 = std::min(pb, p0 + band);
          const int64_t rows = (p1 - 1 - p0) * sh + (p.R - 1) * dh + 1;
          stage.resize(static_cast<size_t>(rows * row_len));
          for (int64_t i = 0; i < rows; ++i) {
            const int64_t h = p0 * sh - p.pad_h + i;
            T* dst = stage.data() + i * row_len;
            if (h < 0 || h >= p.H) std::fill(dst, dst + row_len, T(0));
            else row.fill(xc + h * xs[2], xs[3], p.W, dst);
          }
          for (int64_t t = 0; t < RS; ++t) in[t] = stage.data() + tap_offset[t];
          for (int64_t m = 0; m < M; ++m) {
            const T* dyr = dy + n * ys[0] + (c * M + m) * ys[1] + p0 * ys[2];
            int64_t dy_rs = ys[2];
            if (ys[3] != 1) {
              for (int64_t i = 0; i < p1 - p0; ++i)
                for (int64_t q = 0; q < p.Q; ++q) dyt[i * p.Q + q] = dyr[i * ys[2] + q * ys[3]];
              dyr = dyt.data();
              dy_rs = p.Q;
            }
            cpu::dwconv_rows_wgrad(RS, in.data(), sh * row_len, dyr, dy_rs, p1 - p0, p.Q, res.data());
            for (int64_t t = 0; t < RS; ++t) sums[m * RS + t] += res[t];
          }
        }
      });
      std::copy(sums.begin(), sums.end(), part.begin() + (c * chunks.count + ch) * M * RS);
    }
  });
  reduce_chunks(p, chunks.count, part, [&](int64_t ch, int64_t k, int64_t t) {
    return ((k / M) * chunks.count + ch) * M * RS + (k % M) * RS + t;
  }, dw);
}

// Channels: task = (block of kBlock output channels, chunk); partial sums part[ch][t][k] accumulate
// in place, pixel by pixel in order. With M == 1 the taps point straight into x; with M > 1 the
// band's input rows are staged with channel k holding x's channel k / M. The block is wide: tasks
// that split a pixel's channels would each fetch the pixel's cache lines from memory.
template <typename T>
void wgrad_channels(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  constexpr int64_t kBlock = 256;
  const int64_t K = p.K, M = K / p.C, S = p.S, RS = p.R * p.S;
  const int64_t sh = p.stride_h, sw = p.stride_w, dh = p.dilation_h, dwl = p.dilation_w;
  const int64_t *xs = p.x_strides, *ys = p.y_strides;
  const bool direct = M == 1;
  const int64_t k_blocks = ceil_div(K, kBlock);
  const Chunks chunks(p);
  const Span inner = interior_outputs(p);
  const int64_t band = band_rows(p.P, sh, (p.R - 1) * dh, p.W * kBlock, 4 * kStageBudget);
  std::vector<T> part(static_cast<size_t>(chunks.count * RS * K), T(0));

  parallel_for(0, chunks.count * k_blocks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> stage;
    std::vector<const T*> in(RS), row_ptr(p.R);
    std::vector<T*> acc(RS), accs(RS);
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t ch = task / k_blocks, k0 = (task % k_blocks) * kBlock, nk = std::min(kBlock, K - k0);
      for (int64_t t = 0; t < RS; ++t) acc[t] = part.data() + (ch * RS + t) * K + k0;
      chunks.for_segments(p, ch, [&](int64_t n, int64_t pa, int64_t pb) {
        const T* xn = x + n * xs[0];
        for (int64_t p0 = pa; p0 < pb; p0 += direct ? pb - pa : band) {
          const int64_t p1 = std::min(pb, p0 + (direct ? pb - pa : band));
          int64_t pix = xs[3], h_first = 0;
          if (!direct) {
            h_first = std::max<int64_t>(0, p0 * sh - p.pad_h);
            const int64_t h_end = std::min(p.H, (p1 - 1) * sh - p.pad_h + (p.R - 1) * dh + 1);
            stage.resize(static_cast<size_t>(std::max<int64_t>(0, h_end - h_first) * p.W * nk));
            for (int64_t h = h_first; h < h_end; ++h)
              for (int64_t v = 0; v < p.W; ++v) {
                const T* src = xn + h * xs[2] + v * xs[3];
                T* d = stage.data() + ((h - h_first) * p.W + v) * nk;
                for (int64_t kk = 0; kk < nk; ++kk) d[kk] = src[(k0 + kk) / M];
              }
            pix = nk;
          }
          for (int64_t pp = p0; pp < p1; ++pp) {
            for (int64_t r = 0; r < p.R; ++r) {
              const int64_t h = pp * sh - p.pad_h + r * dh;
              row_ptr[r] = h < 0 || h >= p.H ? nullptr
                           : direct          ? xn + h * xs[2] + k0
                                             : stage.data() + (h - h_first) * p.W * nk;
            }
            const T* dyr = dy + n * ys[0] + pp * ys[2] + k0;
            if (direct && pp + 1 < p1) {  // the next row's newest input row, and its dy row
              const int64_t hn = (pp + 1) * sh - p.pad_h + (p.R - 1) * dh;
              if (hn >= 0 && hn < p.H) prefetch_row(xn + hn * xs[2] + k0, p.W * xs[3], 1);
              prefetch_row(dyr + ys[2], p.Q * ys[3], 1);
            }
            if (inner.hi > inner.lo) {
              int64_t nt = 0;
              for (int64_t r = 0; r < p.R; ++r)
                for (int64_t s = 0; row_ptr[r] && s < S; ++s, ++nt) {
                  in[nt] = row_ptr[r] + (inner.lo * sw - p.pad_w + s * dwl) * pix;
                  accs[nt] = acc[r * S + s];
                }
              cpu::dwconv_channels_wgrad(nt, in.data(), sw * pix, dyr + inner.lo * ys[3], ys[3],
                                         inner.hi - inner.lo, nk, accs.data());
            }
            for (int64_t q = 0; q < p.Q; ++q) {
              if (q == inner.lo) q = inner.hi;
              if (q >= p.Q) break;
              int64_t nt = 0;
              for (int64_t r = 0; r < p.R; ++r)
                for (int64_t s = 0; row_ptr[r] && s < S; ++s) {
                  const int64_t v = q * sw - p.pad_w + s * dwl;
                  if (v < 0 || v >= p.W) continue;
                  in[nt] = row_ptr[r] + v * pix;
                  accs[nt++] = acc[r * S + s];
                }
              cpu::dwconv_channels_wgrad(nt, in.data(), 0, dyr + q * ys[3], 0, 1, nk, accs.data());
            }
          }
        }
      });
    }
  });
  reduce_chunks(p, chunks.count, part, [&](int64_t ch, int64_t k, int64_t t) { return (ch * RS + t) * K + k; },
                dw);
}

}  // namespace

template <typename T>
void conv2d_wgrad_depthwise(const Conv2dParams& p, const T* dy, const T* x, T* dw) {
  if (p.K == 0) return;
  if (p.N == 0 || p.P == 0 || p.Q == 0) {  // empty reduction
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t t = 0; t < p.R * p.S; ++t)
        dw[k * p.w_strides[0] + (t / p.S) * p.w_strides[2] + (t % p.S) * p.w_strides[3]] = T(0);
    return;
  }
  if (conv2d_backward_depthwise_applies<T>(p, nullptr))  // the sums conv2d_backward makes
    conv2d_backward_depthwise<T>(p, dy, x, nullptr, nullptr, nullptr, dw, p.w_strides, nullptr);
  else if (use_channels_path<T>(p)) wgrad_channels(p, dy, x, dw);
  else wgrad_planes(p, dy, x, dw);
}

template void conv2d_wgrad_depthwise<float>(const Conv2dParams&, const float*, const float*, float*);
template void conv2d_wgrad_depthwise<double>(const Conv2dParams&, const double*, const double*, double*);

}  // namespace fastconv
