// The conv2d algorithms behind the dispatching entry points of fastconv/conv.h (conv2d.cpp picks
// one per call). Each takes the same Params and pointers as the entry point it serves.
#pragma once

#include "fastconv/conv.h"

namespace fastconv {

// Implicit GEMM over pixel tiles on the tile GEMM microkernel: every shape.
template <typename T>
void conv2d_fprop_implicit_gemm(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_dgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* w, T* dx);
template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw);

}  // namespace fastconv
