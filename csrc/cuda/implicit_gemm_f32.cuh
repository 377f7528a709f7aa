// The fp32 SIMT implicit-GEMM main loop shared by conv2d fprop, dgrad and wgrad.
//
// One CTA computes a BM x BN tile of C = A * B for one group (and one split of the reduction):
//  - operands are gathered element by element from the tensors by a Gather (conv_index.h) with
//    4-byte cp.async into a STAGES-deep shared-memory ring; padding and ragged edges are zero-filled
//    by the copy itself (src-size 0), so the inner loop has no predicates;
//  - shared memory holds A as [k][m] and B as [k][n]: each reduction step reads a thread's 8 rows
//    and 8 columns as four 16-byte vectors;
//  - each of the (BM/8) x (BN/8) threads accumulates its 8x8 block in registers, in increasing k,
//    so the result does not depend on the tile shape or the launch;
//  - the Epilogue writes the block (adding the bias, or storing a split-K partial).
// Loads map consecutive threads to consecutive GEMM rows (columns for B), so the shared-memory
// stores are conflict-free whatever the tensor layout.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastconv/conv_index.h"

namespace fastconv {
namespace cuda {

template <int BM_, int BN_, int BK_, int STAGES_, int MIN_CTAS_>
struct ImplicitGemmConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, STAGES = STAGES_;
  // CTAs per SM the register allocation must allow (__launch_bounds__) when loads go along rows;
  // loads along k keep one gather state per load, and get the registers for it instead.
  static constexpr int kMinCtas = MIN_CTAS_;
  static constexpr int kThreads = (BM / 8) * (BN / 8);
  static constexpr int kAIters = BM * BK / kThreads;
  static constexpr int kBIters = BN * BK / kThreads;
  // Shared-memory rows padded by 4 floats: stores along k hit 32 distinct banks, and the rows stay
  // 16-byte aligned for the vector reads of the inner loop.
  static constexpr int kAPitch = BM + 4, kBPitch = BN + 4;
  static_assert(BM % 8 == 0 && BN % 8 == 0, "8x8 per thread");
  static_assert((BM * BK) % kThreads == 0 && (BN * BK) % kThreads == 0, "whole loads per thread");
  static_assert(kThreads % BM == 0 || BM % kThreads == 0, "rows repeat across loads");
  static_assert(kThreads % BN == 0 || BN % kThreads == 0, "columns repeat across loads");
  static_assert(kThreads % BK == 0, "a load along k keeps its k index");
  static_assert(STAGES >= 2, "at least double buffering");
};

using Config128x128 = ImplicitGemmConfig<128, 128, 8, 3, 2>;
using Config64x64 = ImplicitGemmConfig<64, 64, 8, 4, 4>;
using Config128x32 = ImplicitGemmConfig<128, 32, 8, 4, 4>;
using Config128x64 = ImplicitGemmConfig<128, 64, 8, 4, 3>;

__device__ __forceinline__ void cp_async_f32(float* smem, const float* gmem, bool pred) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_size = pred ? 4 : 0;  // 0: nothing is read and the destination is zero-filled
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_size) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// grid: x = M tiles, y = N tiles, z = groups * splits (split fastest). A_ALONG_K / B_ALONG_K: how
// threads are laid over an operand tile's loads (tile_load_coord), chosen by the operand's strides.
template <class Cfg, bool A_ALONG_K, bool B_ALONG_K, class Gather, class Epilogue>
__global__ void __launch_bounds__(Cfg::kThreads, (A_ALONG_K || B_ALONG_K) ? 1 : Cfg::kMinCtas)
    implicit_gemm_f32_kernel(const Gather gather, const float* __restrict__ a, const float* __restrict__ b,
                             const Epilogue epilogue, int32_t splits) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, NT = Cfg::kThreads;
  constexpr int kASlots = conv_index::tile_load_slots(BM, BK, NT, A_ALONG_K);
  constexpr int kBSlots = conv_index::tile_load_slots(BN, BK, NT, B_ALONG_K);
  __shared__ __align__(16) float As[STAGES][BK][Cfg::kAPitch];
  __shared__ __align__(16) float Bs[STAGES][BK][Cfg::kBPitch];

  const int tid = threadIdx.x;
  const int32_t m0 = int32_t(blockIdx.x) * BM, n0 = int32_t(blockIdx.y) * BN;
  const int32_t group = int32_t(blockIdx.z) / splits, split = int32_t(blockIdx.z) % splits;
  a += group * gather.a_group;
  b += group * gather.b_group;
  int32_t k_begin, k_end;
  conv_index::splitk_range(gather.gemm_k, splits, split, BK, k_begin, k_end);
  const int32_t k_tiles = (k_end - k_begin + BK - 1) / BK;

  typename Gather::Row rows[kASlots];
  typename Gather::Col cols[kBSlots];
#pragma unroll
  for (int j = 0; j < kASlots; ++j) {
    int32_t ml, kl;
    conv_index::tile_load_coord(BM, BK, NT, A_ALONG_K, tid, j, ml, kl);
    rows[j] = gather.a_row(m0 + ml);
  }
#pragma unroll
  for (int j = 0; j < kBSlots; ++j) {
    int32_t nl, kl;
    conv_index::tile_load_coord(BN, BK, NT, B_ALONG_K, tid, j, nl, kl);
    cols[j] = gather.b_col(n0 + nl);
  }

  auto load_tile = [&](int32_t kt, int stage) {
    const int32_t kbase = k_begin + kt * BK;
#pragma unroll
    for (int j = 0; j < Cfg::kAIters; ++j) {
      int32_t ml, kl;
      conv_index::tile_load_coord(BM, BK, NT, A_ALONG_K, tid, j, ml, kl);
      const int32_t kk = kbase + kl;
      int64_t off = 0;
      const bool ok = kk < k_end && gather.a_offset(rows[conv_index::tile_load_slot(j, kASlots)], kk, off);
      cp_async_f32(&As[stage][kl][ml], ok ? a + off : a, ok);
    }
#pragma unroll
    for (int j = 0; j < Cfg::kBIters; ++j) {
      int32_t nl, kl;
      conv_index::tile_load_coord(BN, BK, NT, B_ALONG_K, tid, j, nl, kl);
      const int32_t kk = kbase + kl;
      int64_t off = 0;
      const bool ok = kk < k_end && gather.b_offset(cols[conv_index::tile_load_slot(j, kBSlots)], kk, off);
      cp_async_f32(&Bs[stage][kl][nl], ok ? b + off : b, ok);
    }
  };

  // Prologue: STAGES-1 tiles in flight. Every iteration commits one group (possibly empty) so that
  // wait_group<STAGES-2> always means "tile kt has landed".
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < k_tiles) load_tile(s, s);
    cp_async_commit();
  }

  const int tn = tid % (BN / 8), tm = tid / (BN / 8);
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;

  for (int32_t kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt visible to all; every thread is done with the stage refilled next
    const int32_t next = kt + STAGES - 1;
    if (next < k_tiles) load_tile(next, next % STAGES);
    cp_async_commit();

    const int st = kt % STAGES;
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[st][k][tm * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[st][k][BM / 2 + tm * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[st][k][tn * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[st][k][BN / 2 + tn * 4]);
      const float af[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bf[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int32_t m = m0 + conv_index::fragment_index(BM, tm, i);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int32_t n = n0 + conv_index::fragment_index(BN, tn, j);
      epilogue.store(gather, group, split, m, n, acc[i][j]);
    }
  }
}

inline void throw_if_launch_failed(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// Launches the kernel for one GEMM of `groups * splits` CTA layers on `stream`.
template <class Cfg, bool A_ALONG_K, bool B_ALONG_K, class Gather, class Epilogue>
void launch_implicit_gemm(const Gather& gather, const float* a, const float* b, const Epilogue& epilogue,
                          int64_t groups, int32_t splits, cudaStream_t stream, const char* what) {
  if (gather.gemm_m == 0 || gather.gemm_n == 0) return;
  const int64_t gx = (int64_t(gather.gemm_m) + Cfg::BM - 1) / Cfg::BM;
  const int64_t gy = (int64_t(gather.gemm_n) + Cfg::BN - 1) / Cfg::BN;
  const int64_t gz = groups * splits;
  if (gy > 65535 || gz > 65535)
    throw std::invalid_argument(std::string(what) + ": problem too large for one launch (groups " +
                                std::to_string(groups) + ", " + std::to_string(gather.gemm_n) + " GEMM columns)");
  const dim3 grid{static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(gz)};
  implicit_gemm_f32_kernel<Cfg, A_ALONG_K, B_ALONG_K, Gather, Epilogue><<<grid, Cfg::kThreads, 0, stream>>>(gather, a, b, epilogue, splits);
  throw_if_launch_failed(what);
}

// The tiles the host-side choice (and the CPU emulation of the kernels) assume.
template <class Cfg>
constexpr bool config_matches(conv_index::GemmTile t) {
  return conv_index::gemm_tile_shape(t).bm == Cfg::BM && conv_index::gemm_tile_shape(t).bn == Cfg::BN &&
         conv_index::gemm_tile_shape(t).bk == Cfg::BK;
}
static_assert(config_matches<Config128x128>(conv_index::GemmTile::t128x128), "tile shapes");
static_assert(config_matches<Config64x64>(conv_index::GemmTile::t64x64), "tile shapes");
static_assert(config_matches<Config128x32>(conv_index::GemmTile::t128x32), "tile shapes");
static_assert(config_matches<Config128x64>(conv_index::GemmTile::t128x64), "tile shapes");

template <bool A_ALONG_K, bool B_ALONG_K, class Gather, class Epilogue>
void launch_implicit_gemm_tile(conv_index::GemmTile tile, const Gather& gather, const float* a, const float* b,
                               const Epilogue& epilogue, int64_t groups, int32_t splits, cudaStream_t stream,
                               const char* what) {
  switch (tile) {
    case conv_index::GemmTile::t128x128:
      launch_implicit_gemm<Config128x128, A_ALONG_K, B_ALONG_K>(gather, a, b, epilogue, groups, splits, stream, what);
      break;
    case conv_index::GemmTile::t64x64:
      launch_implicit_gemm<Config64x64, A_ALONG_K, B_ALONG_K>(gather, a, b, epilogue, groups, splits, stream, what);
      break;
    case conv_index::GemmTile::t128x32:
      launch_implicit_gemm<Config128x32, A_ALONG_K, B_ALONG_K>(gather, a, b, epilogue, groups, splits, stream, what);
      break;
    case conv_index::GemmTile::t128x64:
      launch_implicit_gemm<Config128x64, A_ALONG_K, B_ALONG_K>(gather, a, b, epilogue, groups, splits, stream, what);
      break;
  }
}

inline void require_implicit_gemm_fits(const Conv2dParams& p, const char* what) {
  if (!conv_index::conv2d_implicit_gemm_fits(p))
    throw std::invalid_argument(std::string(what) + ": problem exceeds the 32-bit index range of the GPU kernels");
}

}  // namespace cuda
}  // namespace fastconv
