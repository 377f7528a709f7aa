// conv2d wgrad split-K reduction: one thread per dw element adds its `splits` partial sums in split
// order. No atomics, so dw has the same bits on every run.
#include "cuda/conv2d_wgrad_reduce.cuh"
#include "cuda/implicit_gemm_f32.cuh"

namespace fastconv {
namespace cuda {

namespace {

__global__ void __launch_bounds__(256)
    conv2d_wgrad_reduce_kernel(const conv_index::Conv2dWgradGather g, int64_t groups, int32_t splits,
                               const float* __restrict__ partial, float* __restrict__ dw) {
  const int64_t per_group = int64_t(g.gemm_m) * g.gemm_n;
  const int64_t total = groups * per_group;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    float sum = 0.f;
    for (int32_t s = 0; s < splits; ++s) sum += partial[s * total + i];
    const int64_t group = i / per_group, mn = i % per_group;
    int64_t off;
    if (g.c_offset(int32_t(mn / g.gemm_n), int32_t(mn % g.gemm_n), off)) dw[group * g.c_group + off] = sum;
  }
}

}  // namespace

void conv2d_wgrad_reduce(const conv_index::Conv2dWgradGather& g, int64_t groups, int32_t splits, const float* partial,
                         float* dw, cudaStream_t stream) {
  const int64_t total = groups * int64_t(g.gemm_m) * g.gemm_n;
  if (total == 0) return;
  int64_t blocks = (total + 255) / 256;
  if (blocks > 65536) blocks = 65536;
  conv2d_wgrad_reduce_kernel<<<unsigned(blocks), 256, 0, stream>>>(g, groups, splits, partial, dw);
  throw_if_launch_failed("conv2d_wgrad_reduce");
}

}  // namespace cuda
}  // namespace fastconv
