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
// Forward by indirect GEMM when the input's channels are contiguous (NHWC), chosen inside
// conv2d_fprop_implicit_gemm; planar input (NCHW) goes through channels-last copies of the rows
// each band of output rows reads. A task's block of output pixels is kIndirectGemmBlockPixels.
bool conv2d_indirect_gemm_applies(const Conv2dParams& p);
constexpr int64_t kIndirectGemmBlockPixels = 96;
template <typename T>
void conv2d_fprop_indirect_gemm(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
// Whether the form conv2d_dgrad_implicit_gemm / conv2d_wgrad_implicit_gemm picks for p (planar dy)
// reads dy with contiguous channels, copying it first, and picks the same form for such a copy:
// conv2d_backward then makes one copy for both.
bool conv2d_dgrad_implicit_gemm_reads_channels_last_dy(const Conv2dParams& p);
bool conv2d_wgrad_implicit_gemm_reads_channels_last_dy(const Conv2dParams& p);
// Backward-data as forward passes of dy (rotated filters, one per stride phase), chosen inside
// conv2d_dgrad_implicit_gemm.
template <typename T>
void conv2d_dgrad_by_forward(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-data of a 1x1 convolution without padding on planar dy (unit-stride rows of Q, at least
// one tile of pixels per plane) and dx rows: a GEMM per image on dy in place, chosen inside
// conv2d_dgrad_implicit_gemm.
bool conv2d_dgrad_1x1_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_dgrad_1x1_planar(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-data of a strided 1x1 convolution without padding on channels-last dy and dx: the GEMM
// and the zeros it does not reach in one pass over dx, chosen inside conv2d_dgrad_implicit_gemm.
bool conv2d_dgrad_1x1_channels_last_applies(const Conv2dParams& p);
template <typename T>
void conv2d_dgrad_1x1_channels_last(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-data as GEMM then col2im, for few input channels per group (chosen inside
// conv2d_dgrad_implicit_gemm).
template <typename T>
void conv2d_dgrad_col2im(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-data as a GEMM per pixel chunk then a channels-last col2im, for small images (chosen
// inside conv2d_dgrad_implicit_gemm).
bool conv2d_dgrad_col2im_channels_last_applies(const Conv2dParams& p);
template <typename T>
void conv2d_dgrad_col2im_channels_last(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-weight of a strided 1x1 convolution without padding on channels-last x and dy, both read in
// place by the row-pointer GEMM (C/G a multiple of 64), chosen inside conv2d_wgrad_implicit_gemm.
bool conv2d_wgrad_1x1_channels_last_applies(const Conv2dParams& p);
template <typename T>
void conv2d_wgrad_1x1_channels_last(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Backward-weight of a unit-stride 1x1 convolution without padding on planar x and dy (C/G and K/G
// multiples of 4): the reduction GEMM on x and dy in place, chosen inside
// conv2d_wgrad_implicit_gemm.
bool conv2d_wgrad_1x1_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_wgrad_1x1_planar(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Backward-weight when x and dy store channels contiguously (NHWC), chosen inside
// conv2d_wgrad_implicit_gemm.
bool conv2d_wgrad_channels_last_applies(const Conv2dParams& p);
template <typename T>
void conv2d_wgrad_channels_last(const Conv2dParams& p, const T* dy, const T* x, T* dw);
template <typename T>
void conv2d_wgrad_implicit_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Backward-weight as an indirect GEMM over the rows of a padded planar copy of x, for small images
// and unit horizontal stride, chosen inside conv2d_wgrad_implicit_gemm.
bool conv2d_wgrad_planar_indirect_gemm_applies(const Conv2dParams& p);
template <typename T>
void conv2d_wgrad_planar_indirect_gemm(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Forward and backward-weight by direct convolution for at most 4 input channels (one group) with
// channels-last output / dy, chosen inside the implicit GEMM entry points.
bool conv2d_direct_few_channels_applies(const Conv2dParams& p);
template <typename T>
void conv2d_fprop_direct_few_channels(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_wgrad_direct_few_channels(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Forward by direct convolution on planar rows for at most 4 input channels (one group) with unit
// stride along output rows (NCHW), or channels-last output of filters with many taps (through a
// transpose per output row), chosen inside conv2d_fprop_implicit_gemm.
bool conv2d_fprop_direct_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_fprop_direct_planar(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
// Backward-data by stride phases on the same planar kernels for at most 4 input channels (one
// group), any strides, chosen inside conv2d_dgrad_implicit_gemm.
bool conv2d_dgrad_direct_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_dgrad_direct_planar(const Conv2dParams& p, const T* dy, const T* w, T* dx);
// Backward-weight on the same planar kernels for at most 4 input channels (one group) with unit
// stride along dy's rows (NCHW), or channels-last dy of filters with many taps, chosen inside
// conv2d_wgrad_implicit_gemm.
bool conv2d_wgrad_direct_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_wgrad_direct_planar(const Conv2dParams& p, const T* dy, const T* x, T* dw);

// dx, dw and db (each may be null) from one staged copy of dy, for at most 4 input channels (one
// group) and unit strides, on the planar kernels (conv2d_backward_direct_planar.cpp); conv2d.cpp
// sends such gradients there, alone or together (dx not where Winograd is asked for: dw and db
// still are, the same bits as for any algorithm; not dw and db without dx from channels-last dy).
// dx_strides describe dx, dw_strides dw, p.b_stride db.
bool conv2d_backward_direct_planar_applies(const Conv2dParams& p);
template <typename T>
void conv2d_backward_direct_planar(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                                   const int64_t* dx_strides, T* dw, const int64_t* dw_strides, T* db);

// Direct depthwise convolution (groups == C, K = C * multiplier): conv2d_*_depthwise.cpp, with the
// per-ISA loops of ukernels/dwconv.h. Any stride, padding, dilation, multiplier and array strides.
inline bool conv2d_is_depthwise(const Conv2dParams& p) { return p.C > 0 && p.groups == p.C && p.K % p.C == 0; }
template <typename T>
void conv2d_fprop_depthwise(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
template <typename T>
void conv2d_dgrad_depthwise(const Conv2dParams& p, const T* dy, const T* w, T* dx);
template <typename T>
void conv2d_wgrad_depthwise(const Conv2dParams& p, const T* dy, const T* x, T* dw);
// Depthwise 3x3, unit strides and dilations, one filter per channel, unit-stride rows (planes):
// dx, dw, db (each may be null) from one pass over dy (conv2d_backward_depthwise.cpp). dx_strides
// describe dx, dw_strides dw, p.b_stride db.
template <typename T>
bool conv2d_backward_depthwise_applies(const Conv2dParams& p, const int64_t* dx_strides);
template <typename T>
void conv2d_backward_depthwise(const Conv2dParams& p, const T* dy, const T* x, const T* w, T* dx,
                               const int64_t* dx_strides, T* dw, const int64_t* dw_strides, T* db);

// Winograd F(4x4, 3x3): 3x3 filters, stride 1, dilation 1 (conv2d_winograd_applies).
bool conv2d_winograd_applies(const Conv2dParams& p);
template <typename T>
void conv2d_fprop_winograd(const Conv2dParams& p, const T* x, const T* w, const T* b, T* y);
// Backward-data as a Winograd forward pass on rotated filters; needs padding <= 2 besides.
bool conv2d_dgrad_winograd_applies(const Conv2dParams& p);
template <typename T>
void conv2d_dgrad_winograd(const Conv2dParams& p, const T* dy, const T* w, T* dx);

}  // namespace fastconv
