"""Channels-last depthwise 3x3 outputs large enough (8 MiB and up) for the kernels to write with
non-temporal stores and to fetch the next input rows ahead: y of the forward, dx of the backward (alone
and with dw and db), against the float64 reference over memory poisoned with NaN first; the same bits
as a small output (ordinary stores) and at every thread count; an output off a 64-byte boundary, which
must be stored the ordinary way; and every ISA path."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

STREAM_BYTES = 8 << 20  # the output size from which the kernels stream (ukernels/igemm.h)

# (N, C, H, W): 8 rows per band, so 64 rows end on a band and 37 in a band of 5 (an odd last row);
# the band after an image's last is the next image's first.
SHAPES = [(2, 256, 64, 64), (6, 256, 37, 37)]


def poison(nbytes):
    junk = np.full(nbytes // 4 + 64, np.nan, np.float32)  # recycled by the next large allocation
    del junk


def case(rng, N, C, H, W, dtype=np.float32):
    x = to_layout(rng.standard_normal((N, C, H, W)), "NHWC").astype(dtype)
    w = to_layout(rng.standard_normal((C, 1, 3, 3)), "NHWC").astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    dy = to_layout(rng.standard_normal((N, C, H, W)), "NHWC").astype(dtype)
    return x, w, b, dy


def forward(x, w, b, out=None):
    return fc.conv2d(x, w, b, 1, 1, 1, x.shape[-1], layout="NHWC", algorithm="direct", out=out)


def backward(dy, x, w, b, needs=(True, True, True)):
    poison(x.nbytes)
    return fc.conv2d_backward(dy, x, w, b, 1, 1, 1, x.shape[-1], layout="NHWC", algorithm="direct",
                              needs_input_grad=needs)


def check_against_reference(x, w, b, dy, y, dx, dw, db):
    C = x.shape[-1]
    xr, wr, dyr = (to_nchw(a, "NHWC").astype(np.float64) for a in (x, w, dy))
    assert_close(to_nchw(y, "NHWC"), ref.conv2d(xr, wr, b.astype(np.float64), 1, 1, 1, C), 9, np.float32)
    assert_close(to_nchw(dx, "NHWC"), ref.conv2d_dgrad(dyr, xr.shape, wr, 1, 1, 1, C), 9, np.float32)
    N, H, W = x.shape[:3]
    assert_close(to_nchw(dw, "NHWC"), ref.conv2d_wgrad(dyr, xr, wr.shape, 1, 1, 1, C), N * H * W, np.float32)
    assert_close(db, ref.conv2d_bgrad(dyr), N * H * W, np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_large_outputs_vs_reference_and_small_output_bits(shape):
    x, w, b, dy = case(np.random.default_rng(sum(shape)), *shape)
    assert x.nbytes >= STREAM_BYTES
    y = forward(x, w, b, out=np.full(x.shape, np.nan, np.float32))
    dx, dw, db = backward(dy, x, w, b)
    check_against_reference(x, w, b, dy, y, dx, dw, db)
    # dx alone: the same kernel and bits as with dw and db.
    assert backward(dy, x, w, b, (True, False, False))[0].tobytes() == dx.tobytes()
    # The last image alone (under 8 MiB, stored the ordinary way): the same sums, the same bits.
    assert forward(x[-1:], w, b).tobytes() == y[-1:].tobytes()
    assert backward(dy[-1:], x[-1:], w, b, (True, False, False))[0].tobytes() == dx[-1:].tobytes()


def test_large_output_off_cache_line_boundary():
    x, w, b, _ = case(np.random.default_rng(3), *SHAPES[0])
    store = np.full(x.size + 1, np.nan, np.float32)
    out = store[1:].reshape(x.shape)  # 4 bytes past the allocation's 64-byte boundary
    assert out.ctypes.data % 64 != 0
    forward(x, w, b, out=out)
    assert forward(x, w, b).tobytes() == out.tobytes()
    assert np.isnan(store[0])  # the element before the view is never written


def test_same_bits_for_any_thread_count():
    x, w, b, dy = case(np.random.default_rng(4), *SHAPES[1])
    assert_same_bits_for_thread_counts(lambda: (forward(x, w, b),) + backward(dy, x, w, b))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    run_under_isa(isa, """
from test_conv2d_depthwise_streaming import SHAPES, backward, case, check_against_reference, forward
x, w, b, dy = case(rng, *SHAPES[1])
y = forward(x, w, b, out=np.full(x.shape, np.nan, np.float32))
check_against_reference(x, w, b, dy, y, *backward(dy, x, w, b))
""")
