// FASTCONV_HOST_DEVICE marks inline index arithmetic shared by the CPU extension and the CUDA
// kernels: __host__ __device__ under nvcc, nothing for a plain C++ compiler. One definition serves
// both, so the CPU unit tests of these functions (tests/test_gpu_index.py) cover the GPU's indexing.
#pragma once

#if defined(__CUDACC__)
#define FASTCONV_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FASTCONV_HOST_DEVICE inline
#endif
