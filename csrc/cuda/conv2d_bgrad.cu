// conv2d bgrad: db[k] = sum over (n, p, q) of dy[n, k, p, q]; dy: (N, K, P, Q), any strides.
// One CTA per output channel; thread t adds elements t, t + 256, ... and the CTA combines the 256
// partial sums by a fixed tree. The order never depends on timing, so db has the same bits on
// every run.
#include <cstdint>

#include "cuda/implicit_gemm_f32.cuh"
#include "fastconv/cuda_conv_implicit_gemm.h"

namespace fastconv {
namespace cuda {

namespace {

constexpr int kBgradThreads = 256;

__global__ void __launch_bounds__(kBgradThreads)
    conv2d_bgrad_kernel(const float* __restrict__ dy, float* __restrict__ db, int32_t npq,
                        conv_index::FastDivmod div_pq, conv_index::FastDivmod div_q, int64_t ys0, int64_t ys1,
                        int64_t ys2, int64_t ys3, int64_t b_stride) {
  __shared__ float partial[kBgradThreads];
  const int64_t k = blockIdx.x;
  const float* dyk = dy + k * ys1;
  float sum = 0.f;
  for (int32_t i = threadIdx.x; i < npq; i += kBgradThreads) {
    int32_t n, pq, p, q;
    div_pq.divmod(i, n, pq);
    div_q.divmod(pq, p, q);
    sum += dyk[n * ys0 + p * ys2 + q * ys3];
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
#pragma unroll
  for (int width = kBgradThreads / 2; width > 0; width /= 2) {
    if (int(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[k * b_stride] = partial[0];
}

}  // namespace

void conv2d_bgrad(const Conv2dParams& p, const float* dy, float* db, void* workspace, cudaStream_t stream) {
  if (p.K == 0) return;
  if (p.N * p.P * p.Q >= (int64_t(1) << 31) || p.K > 2147483647)
    throw std::invalid_argument("conv2d_bgrad: problem exceeds the 32-bit index range of the GPU kernels");
  conv2d_bgrad_kernel<<<unsigned(p.K), kBgradThreads, 0, stream>>>(
      dy, db, int32_t(p.N * p.P * p.Q), conv_index::FastDivmod(int32_t(p.P * p.Q)), conv_index::FastDivmod(int32_t(p.Q)),
      p.y_strides[0], p.y_strides[1], p.y_strides[2], p.y_strides[3], p.b_stride);
  throw_if_launch_failed("conv2d_bgrad");
}

}  // namespace cuda
}  // namespace fastconv
