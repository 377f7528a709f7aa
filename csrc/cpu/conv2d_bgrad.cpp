// conv2d backward-bias: db[k] = sum over n, p, q of dy[n, k, p, q].
//   dy: (N, K, P, Q)   db: (K,)
// Channels contiguous (NHWC): the batch's pixels are cut into parts fixed by the problem; each
// part adds its pixels' channel vectors in order (vectorised along k), then the parts are added in
// order. Otherwise one task per channel sums its planes in 16 fixed lanes (vectorised along the
// plane). Either way every db[k] is the same sum in the same order for any thread count.
#include <algorithm>
#include <vector>

#include "fastconv/conv.h"
#include "parallel.h"

namespace fastconv {

namespace {
constexpr int64_t kPartPixels = 4096;
constexpr int64_t kLanes = 16;

template <typename T>
T sum_lanes(const T* lane) {
  T s8[8];
  for (int l = 0; l < 8; ++l) s8[l] = lane[l] + lane[l + 8];
  return ((s8[0] + s8[4]) + (s8[2] + s8[6])) + ((s8[1] + s8[5]) + (s8[3] + s8[7]));
}
}  // namespace

template <typename T>
void conv2d_bgrad(const Conv2dParams& p, const T* dy, T* db) {
  const int64_t* ys = p.y_strides;
  const int64_t PQ = p.P * p.Q, NPQ = p.N * PQ;
  if (ys[1] == 1 && p.K > 1) {
    const int64_t parts = std::max<int64_t>(1, (NPQ + kPartPixels - 1) / kPartPixels);
    std::vector<T> partial(static_cast<size_t>(parts * p.K), T(0));
    parallel_for(0, parts, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t part = lo; part < hi; ++part) {
        T* acc = partial.data() + part * p.K;
        const int64_t end = std::min(NPQ, (part + 1) * kPartPixels);
        for (int64_t pix = part * kPartPixels; pix < end; ++pix) {
          const T* v = dy + (pix / PQ) * ys[0] + ((pix % PQ) / p.Q) * ys[2] + (pix % p.Q) * ys[3];
          for (int64_t k = 0; k < p.K; ++k) acc[k] += v[k];
        }
      }
    });
    for (int64_t k = 0; k < p.K; ++k) {
      T total = partial[k];
      for (int64_t part = 1; part < parts; ++part) total += partial[part * p.K + k];
      db[k * p.b_stride] = total;
    }
    return;
  }
  // Value (i, j) of a plane goes to lane (i * Q + j) % 16, whatever dy's strides: planes whose
  // rows follow each other (any NCHW array) are one vectorised run, even with rows shorter than the
  // lanes (the 11x11 planes of a small CNN); others go value by value, to the same lanes in the
  // same order, so the bits do not depend on the layout.
  const bool plane_run = ys[3] == 1 && ys[2] == p.Q;
  const int64_t PQ_run = p.P * p.Q;
  parallel_for(0, p.K, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      T lane[kLanes] = {};
      for (int64_t n = 0; n < p.N; ++n) {
        const T* plane = dy + n * ys[0] + k * ys[1];
        if (plane_run) {
          int64_t f = 0;
          for (; f + kLanes <= PQ_run; f += kLanes)
            for (int64_t l = 0; l < kLanes; ++l) lane[l] += plane[f + l];
          for (; f < PQ_run; ++f) lane[f % kLanes] += plane[f];
          continue;
        }
        for (int64_t i = 0; i < p.P; ++i)
          for (int64_t j = 0; j < p.Q; ++j) lane[(i * p.Q + j) % kLanes] += plane[i * ys[2] + j * ys[3]];
      }
      db[k * p.b_stride] = sum_lanes(lane);
    }
  });
}

template void conv2d_bgrad<float>(const Conv2dParams&, const float*, float*);
template void conv2d_bgrad<double>(const Conv2dParams&, const double*, double*);

}  // namespace fastconv
