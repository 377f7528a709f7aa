// conv2d fprop, fp32 SIMT implicit GEMM: y[n, k, p, q] = sum over (r, s, c) of x * w, plus b[k].
//   x: (N, C, H, W), w: (K, C/groups, R, S), b: (K,) or null, y: (N, K, P, Q); any strides.
// The 1x1 and small-C (C = 1, 3) problems run the same main loop: their divisions by S and C/groups
// are by 1 or by tiny constants, and C/groups < BK only leaves zero-filled reduction slots; a narrow
// output (K/groups <= 32) takes the 128x32 tile.
#include "cuda/implicit_gemm_f32.cuh"
#include "fastconv/cuda_conv_implicit_gemm.h"

namespace fastconv {
namespace cuda {

namespace {

struct FpropEpilogue {
  float* y;
  const float* b;
  int64_t b_stride;
  int32_t k_per_group;

  __device__ __forceinline__ void store(const conv_index::Conv2dFpropGather& g, int32_t group, int32_t, int32_t m,
                                        int32_t n, float acc) const {
    int64_t off;
    if (!g.c_offset(m, n, off)) return;
    if (b != nullptr) acc += b[(int64_t(group) * k_per_group + n) * b_stride];
    y[group * g.c_group + off] = acc;
  }
};

}  // namespace

void conv2d_fprop_implicit_gemm(const Conv2dParams& p, const float* x, const float* w, const float* b, float* y,
                                void* workspace, cudaStream_t stream) {
  require_implicit_gemm_fits(p, "conv2d_fprop_implicit_gemm");
  const conv_index::Conv2dFpropGather g = conv_index::make_fprop_gather(p);
  const FpropEpilogue ep{y, b, p.b_stride, g.gemm_n};
  const conv_index::GemmTile tile = conv_index::choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups);
  const char* what = "conv2d_fprop_implicit_gemm";
  // Channels-last x and KRSC w are read along c; NCHW x along the output columns.
  if (conv_index::conv2d_fprop_loads_along_k(p))
    launch_implicit_gemm_tile<true, true>(tile, g, x, w, ep, p.groups, 1, stream, what);
  else
    launch_implicit_gemm_tile<false, false>(tile, g, x, w, ep, p.groups, 1, stream, what);
}

}  // namespace cuda
}  // namespace fastconv
