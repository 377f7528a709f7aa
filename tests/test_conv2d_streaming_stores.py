"""Outputs large enough (8 MiB and up) for the channels-last indirect GEMM to write with streaming
(non-temporal) stores: the forward pass, and the 1x1 backward-data at stride 1 (as a forward pass of
dy) and stride 2 (the GEMM and zeros in one pass), against the float64 reference, over memory
poisoned with NaN first; the same bits as the same pixels computed into a small output (ordinary
stores); and outputs off a 64-byte boundary, which the kernel must store the ordinary way."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

STREAM_BYTES = 8 << 20  # the output size from which the kernels stream (ukernels/igemm.h)


def poison(nbytes):
    junk = np.full(nbytes // 4 + 64, np.nan, np.float32)  # recycled by the next large allocation
    del junk


def forward_case(rng, N, C, H, K, R, dtype=np.float32):
    x = to_layout(rng.standard_normal((N, C, H, H)), "NHWC").astype(dtype)
    w = to_layout(rng.standard_normal((K, C, R, R)), "NHWC").astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("R", [1, 3])
def test_forward_large_output_vs_reference_and_small_output_bits(R):
    rng = np.random.default_rng(R)
    N, C, H, K = 2, 24, 64, 256  # y: 2 x 64 x 64 x 256 float32 = 8 MiB
    x, w, b = forward_case(rng, N, C, H, K, R)
    assert N * H * H * K * 4 >= STREAM_BYTES
    poison(N * H * H * K * 4)
    y = fc.conv2d(x, w, b, 1, R // 2, layout="NHWC", algorithm="implicit_gemm")  # 3x3: not Winograd
    expected = ref.conv2d(to_nchw(x, "NHWC").astype(np.float64), to_nchw(w, "NHWC").astype(np.float64),
                          b.astype(np.float64), 1, R // 2, 1, 1)
    assert_close(to_nchw(y, "NHWC"), expected, C * R * R, np.float32)
    # One image alone (a 4 MiB output, stored the ordinary way): the same sums, the same bits.
    y1 = fc.conv2d(x[1:], w, b, 1, R // 2, layout="NHWC", algorithm="implicit_gemm")
    assert y1.tobytes() == y[1:].tobytes()


def test_forward_large_output_off_cache_line_boundary():
    rng = np.random.default_rng(7)
    N, C, H, K = 2, 16, 64, 256
    x, w, b = forward_case(rng, N, C, H, K, 1)
    store = np.full(N * H * H * K + 1, np.nan, np.float32)
    out = store[1:].reshape(N, H, H, K)  # 4 bytes past the allocation's 64-byte boundary
    assert out.ctypes.data % 64 != 0
    fc.conv2d(x, w, b, layout="NHWC", out=out)
    assert fc.conv2d(x, w, b, layout="NHWC").tobytes() == out.tobytes()
    assert np.isnan(store[0])  # the element before the view is never written


def run_dgrad(rng, stride):
    N, C, H, K = 2, 256, 64, 40  # dx: 2 x 64 x 64 x 256 float32 = 8 MiB
    w = to_layout(rng.standard_normal((K, C, 1, 1)), "NHWC").astype(np.float32)
    P = (H - 1) // stride + 1
    dy = rng.standard_normal((N, P, P, K)).astype(np.float32)
    x = np.zeros((N, H, H, C), np.float32)
    poison(x.nbytes)
    dx, _, _ = fc.conv2d_backward(dy, x, w, None, stride, layout="NHWC", needs_input_grad=(True, False, False))
    return dy, w, dx


@pytest.mark.parametrize("stride", [1, 2])
def test_dgrad_1x1_large_dx_vs_reference_and_small_dx_bits(stride):
    rng = np.random.default_rng(10 + stride)
    dy, w, dx = run_dgrad(rng, stride)
    assert dx.nbytes >= STREAM_BYTES
    expected = ref.conv2d_dgrad(to_nchw(dy, "NHWC").astype(np.float64), to_nchw(dx, "NHWC").shape,
                                to_nchw(w, "NHWC").astype(np.float64), stride, 0, 1, 1)
    assert_close(to_nchw(dx, "NHWC"), expected, w.shape[0], np.float32)
    dx1, _, _ = fc.conv2d_backward(dy[:1], np.zeros_like(dx[:1]), w, None, stride, layout="NHWC",
                                   needs_input_grad=(True, False, False))
    assert dx1.tobytes() == dx[:1].tobytes()


def test_dgrad_1x1_large_dx_same_bits_for_any_thread_count():
    assert_same_bits_for_thread_counts(lambda: run_dgrad(np.random.default_rng(12), 1)[2])


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_streaming_stores import run_dgrad
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close
from conv_cases import to_nchw
for stride in (1, 2):
    dy, w, dx = run_dgrad(rng, stride)
    expected = ref.conv2d_dgrad(to_nchw(dy, "NHWC").astype(np.float64), to_nchw(dx, "NHWC").shape,
                                to_nchw(w, "NHWC").astype(np.float64), stride, 0, 1, 1)
    assert_close(to_nchw(dx, "NHWC"), expected, w.shape[0], np.float32)
""")
