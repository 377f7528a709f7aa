// FASTCONV_HOST_DEVICE marks inline index arithmetic shared by the CPU extension and the CUDA
// kernels: __host__ __device__ under nvcc, nothing for a plain C++ compiler. One definition serves
// both, so the CPU unit tests of these functions (tests/test_gpu_index.py) cover the GPU's indexing.
#pragma once

#if defined(__CUDACC__)
#define FASTCONV_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FASTCONV_HOST_DEVICE inline
#endif

// A read-only load: through the read-only data cache on the device, a plain load on the host.
#if defined(__CUDA_ARCH__)
#define FASTCONV_LDG(ptr) __ldg(ptr)
#else
#define FASTCONV_LDG(ptr) (*(ptr))
#endif
