// conv2d dgrad, fp32 SIMT implicit GEMM: dx[n, c, h, w] = sum over (k, r, s) of dy * w.
//   dy: (N, K, P, Q), w: (K, C/groups, R, S), dx: (N, C, H, W); any strides.
// Stride 1: one GEMM, the convolution of dy with the flipped weights. Stride > 1: one GEMM per
// stride phase (conv_index.h, dgrad_axis_phase), each over only the taps that reach its positions,
// so no multiply touches the zeros a transposed convolution inserts. A phase no tap reaches (stride
// larger than the dilated kernel) is a GEMM with an empty reduction: it writes zeros.
#include "cuda/implicit_gemm_f32.cuh"
#include "fastconv/cuda_conv_implicit_gemm.h"

namespace fastconv {
namespace cuda {

namespace {

struct DgradEpilogue {
  float* dx;

  __device__ __forceinline__ void store(const conv_index::Conv2dDgradGather& g, int32_t group, int32_t, int32_t m,
                                        int32_t c, float acc) const {
    int64_t off;
    if (g.c_offset(m, c, off)) dx[group * g.c_group + off] = acc;
  }
};

}  // namespace

void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const float* dy, const float* w, float* dx, void* workspace,
                                cudaStream_t stream) {
  require_implicit_gemm_fits(p, "conv2d_dgrad_implicit_gemm");
  const int32_t phases = int32_t(p.stride_h * p.stride_w);
  const bool along_k = conv_index::conv2d_dgrad_loads_along_k(p);
  for (int32_t phase = 0; phase < phases; ++phase) {
    const conv_index::Conv2dDgradGather g = conv_index::make_dgrad_gather(p, phase);
    const conv_index::GemmTile tile = conv_index::choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups);
    const char* what = "conv2d_dgrad_implicit_gemm";
    // Channels-last dy is read along k; w always along c (unit stride in KRSC).
    if (along_k)
      launch_implicit_gemm_tile<true, false>(tile, g, dy, w, DgradEpilogue{dx}, p.groups, 1, stream, what);
    else
      launch_implicit_gemm_tile<false, false>(tile, g, dy, w, DgradEpilogue{dx}, p.groups, 1, stream, what);
  }
}

}  // namespace cuda
}  // namespace fastconv
