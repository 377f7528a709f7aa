// conv2d wgrad, fp32 SIMT implicit GEMM: dw[k, c, r, s] = sum over (n, p, q) of dy * x.
//   dy: (N, K, P, Q), x: (N, C, H, W), dw: (K, C/groups, R, S); any strides.
// The reduction over N*P*Q is long and the output small, so it is split (conv2d_wgrad_splits):
// each split writes its partial tile to the caller's workspace, and a second pass adds them in a
// fixed order. One split writes dw directly.
#include <stdexcept>

#include "cuda/conv2d_wgrad_reduce.cuh"
#include "cuda/implicit_gemm_f32.cuh"
#include "fastconv/cuda_conv_implicit_gemm.h"

namespace fastconv {
namespace cuda {

namespace {

struct WgradEpilogue {
  float* dw;       // splits == 1
  float* partial;  // splits > 1: (splits, groups, M, N)
  int64_t groups;

  __device__ __forceinline__ void store(const conv_index::Conv2dWgradGather& g, int32_t group, int32_t split,
                                        int32_t m, int32_t n, float acc) const {
    if (m >= g.gemm_m || n >= g.gemm_n) return;
    if (partial != nullptr) {
      partial[((split * groups + group) * g.gemm_m + m) * int64_t(g.gemm_n) + n] = acc;
      return;
    }
    int64_t off;
    if (g.c_offset(m, n, off)) dw[group * g.c_group + off] = acc;
  }
};

}  // namespace

void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const float* dy, const float* x, float* dw, void* workspace,
                                cudaStream_t stream) {
  require_implicit_gemm_fits(p, "conv2d_wgrad_implicit_gemm");
  const conv_index::Conv2dWgradGather g = conv_index::make_wgrad_gather(p);
  const int32_t splits = conv_index::conv2d_wgrad_splits(p);
  float* partial = splits > 1 ? static_cast<float*>(workspace) : nullptr;
  if (splits > 1 && partial == nullptr)
    throw std::invalid_argument("conv2d_wgrad_implicit_gemm: workspace of conv2d_wgrad_workspace_bytes() is required");
  const conv_index::GemmTile tile = conv_index::choose_gemm_tile(g.gemm_m, g.gemm_n, p.groups);
  const WgradEpilogue ep{dw, partial, p.groups};
  const char* what = "conv2d_wgrad_implicit_gemm";
  // NCHW dy and x are read along their rows (q); channels-last ones along k and c.
  if (conv_index::conv2d_wgrad_loads_along_k(p))
    launch_implicit_gemm_tile<true, true>(tile, g, dy, x, ep, p.groups, splits, stream, what);
  else
    launch_implicit_gemm_tile<false, false>(tile, g, dy, x, ep, p.groups, splits, stream, what);
  if (partial != nullptr) conv2d_wgrad_reduce(g, p.groups, splits, partial, dw, stream);
}

}  // namespace cuda
}  // namespace fastconv
