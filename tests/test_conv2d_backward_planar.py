"""Backward of few-input-channel layers with unit strides (C <= 4, one group): dx, dw and db from one
staged copy of dy in flat rows (conv2d_backward_direct_planar.cpp), whichever of them are asked
for, against the float64 reference, in both layouts and on every ISA path."""

import itertools

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, R, S, padding, dilation)
CASES = [
    (3, 1, 28, 28, 32, 3, 3, 0, 1),             # the seed model's first layer (fewer images)
    (2, 3, 11, 17, 7, 3, 3, 1, 1),              # RGB, padded, K past the 4-filter blocks
    (2, 2, 9, 5, 5, 2, 3, (2, 1), (1, 2)),      # dilated columns, anisotropic padding, short rows
    (1, 4, 6, 6, 6, 6, 6, 0, 1),                # kernel = input: one output pixel
    (2, 3, 7, 8, 5, 1, 1, 0, 1),                # 1x1: no halo
    (1, 2, 3, 300, 3, 3, 3, 1, 1),              # long rows
    (1, 3, 6, 5, 5, 2, 2, "same", 1),           # even kernel 'same': the extra pad at the end
    (2, 1, 40, 60, 64, 3, 3, 0, 1),             # 64 filters x 60 columns: several bands per image
    (1, 2, 130, 60, 8, 5, 5, 2, (2, 1)),        # two bands with an 8-row halo: dilated rows
    (1, 1, 5, 4, 17, 3, 3, 3, 1),               # padding wider than the kernel: padded dx computed, dropped
]


def gradients(case, dtype, layout, rng, needs=(True, True, True)):
    N, C, H, W, K, R, S, padding, dilation = case
    x = to_layout(rng.standard_normal((N, C, H, W)), layout).astype(dtype)
    w = to_layout(rng.standard_normal((K, C, R, S)), layout).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = fc.conv2d(x, w, b, 1, padding, dilation, layout=layout)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return (x, w, b, dy), fc.conv2d_backward(dy, x, w, b, 1, padding, dilation, layout=layout, needs_input_grad=needs)


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vs_reference(case, layout, dtype):
    N, C, H, W, K, R, S, padding, dilation = case
    (x, w, b, dy), (dx, dw, db) = gradients(case, dtype, layout, np.random.default_rng(hash(case) % 2**32))
    xr, wr, dyr = (to_nchw(a, layout).astype(np.float64) for a in (x, w, dy))
    P, Q = dyr.shape[2:]
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (K,)
    assert_close(to_nchw(dx, layout), ref.conv2d_dgrad(dyr, xr.shape, wr, 1, padding, dilation), K * R * S, dtype)
    assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dyr, xr, wr.shape, 1, padding, dilation), N * P * Q, dtype)
    assert_close(db, ref.conv2d_bgrad(dyr), N * P * Q, dtype)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_each_gradient_alone_has_the_bits_it_has_with_the_others(layout):
    """Any subset of the gradients from planar dy; with dx, from channels-last dy (without dx, that
    dy goes to the channels-last kernels: test_vs_reference_without_dx)."""
    case = CASES[8]
    _, full = gradients(case, np.float32, layout, np.random.default_rng(1))
    for needs in itertools.product([False, True], repeat=3):
        if not any(needs) or (layout == "NHWC" and not needs[0]):
            continue
        _, got = gradients(case, np.float32, layout, np.random.default_rng(1), needs)
        for g, f, need in zip(got, full, needs):
            if need:
                assert g.tobytes() == f.tobytes(), needs
            else:
                assert g is None


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("needs", [(False, True, False), (False, False, True), (False, True, True)])
def test_vs_reference_without_dx(layout, needs):
    case = CASES[1]
    N, C, H, W, K, R, S, padding, dilation = case
    (x, w, b, dy), (dx, dw, db) = gradients(case, np.float32, layout, np.random.default_rng(7), needs)
    xr, wr, dyr = (to_nchw(a, layout).astype(np.float64) for a in (x, w, dy))
    assert dx is None and (dw is None) == (not needs[1]) and (db is None) == (not needs[2])
    if needs[1]:
        assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dyr, xr, wr.shape, 1, padding, dilation), N * H * W,
                     np.float32)
    if needs[2]:
        assert_close(db, ref.conv2d_bgrad(dyr), N * H * W, np.float32)


def test_gradient_entry_points_alone_match():
    """The dgrad and wgrad entry points of the extension take the same path as the backward call."""
    from fastconv import _C

    (x, w, b, dy), (dx, dw, db) = gradients(CASES[1], np.float32, "NCHW", np.random.default_rng(2))
    dx_alone, dw_alone = np.full_like(dx, np.nan), np.full_like(dw, np.nan)
    _C.conv2d_dgrad(dy, w, dx_alone, (1, 1), (1, 1), (1, 1), 1)
    _C.conv2d_wgrad(dy, x, dw_alone, (1, 1), (1, 1), (1, 1), 1)
    assert dx_alone.tobytes() == dx.tobytes() and dw_alone.tobytes() == dw.tobytes()


def test_strided_views_and_small_integers_exact():
    """x and dy through their strides (channels-last dy viewed as NCHW, with K >= 16 and Q >= 16 and
    with fewer); sums of small integers are exact in float32."""
    rng = np.random.default_rng(3)
    for K, W in [(20, 19), (6, 9)]:
        x = rng.integers(-3, 4, (2, 5, 14, 2 * W)).astype(np.float32)[:, 1:4, :, ::2]
        w = rng.integers(-3, 4, (K, 3, 3, 3)).astype(np.float32)
        dy = np.ascontiguousarray(rng.integers(-3, 4, (2, 14, W, K)).astype(np.float32)).transpose(0, 3, 1, 2)
        b = np.zeros(K, np.float32)
        dx, dw, db = fc.conv2d_backward(dy, x, w, b, padding=1)
        dyr, xr, wr = dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64)
        np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dyr, x.shape, wr, 1, 1))
        np.testing.assert_array_equal(dw, ref.conv2d_wgrad(dyr, xr, w.shape, 1, 1))
        np.testing.assert_array_equal(db, ref.conv2d_bgrad(dyr))


def test_every_output_element_written():
    rng = np.random.default_rng(4)
    for layout in ("NCHW", "NHWC"):
        for case in (CASES[7], CASES[9]):
            junk = np.full(1 << 18, np.nan, np.float32)
            del junk
            _, grads = gradients(case, np.float32, layout, rng)
            assert all(np.isfinite(g).all() for g in grads)


def test_adjoint_identities_float64():
    """<conv(x, w), dy> = <x, dgrad(dy, w)> = <w, wgrad(dy, x)> and sum(dy) = db."""
    rng = np.random.default_rng(5)
    for layout in ("NCHW", "NHWC"):
        (x, w, b, dy), (dx, dw, db) = gradients(CASES[8], np.float64, layout, rng)
        y = fc.conv2d(x, w, None, 1, 2, (2, 1), layout=layout)
        lhs = np.vdot(y, dy)
        assert abs(lhs - np.vdot(x, dx)) <= 1e-10 * abs(lhs) + 1e-9
        assert abs(lhs - np.vdot(w, dw)) <= 1e-10 * abs(lhs) + 1e-9
        np.testing.assert_allclose(db, to_nchw(dy, layout).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_same_bits_for_any_thread_count_and_run():
    # 70 images: several units per part; 64 filters x 60 columns: several bands per image.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((70, 1, 40, 60)).astype(np.float32)
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    dy = rng.standard_normal((70, 64, 38, 58)).astype(np.float32)
    assert_same_bits_for_thread_counts(lambda: fc.conv2d_backward(dy, x, w, b))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    """FASTCONV_ISA caps the path: the lower ones (the default one runs everywhere above) must pass too."""
    run_under_isa(isa, """
import test_conv2d_backward_planar as t
for case in t.CASES:
    for layout in ("NCHW", "NHWC"):
        t.test_vs_reference(case, layout, np.float32)
    t.test_vs_reference(case, "NCHW", np.float64)
t.test_strided_views_and_small_integers_exact()
""")
