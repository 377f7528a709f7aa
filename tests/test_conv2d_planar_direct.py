"""Direct convolution on planar rows for few input channels (C <= 4, one group) in NCHW: the forward
pass of an image model's first layer and both of its gradients (conv2d_{fprop,dgrad,wgrad}_direct_planar),
against the float64 reference, on every ISA path."""

import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, check_all_passes, run_under_isa

# (N, C, H, W, K, R, S, stride, padding, dilation)
CASES = [
    (2, 3, 30, 30, 64, 7, 7, 2, 3, 1),           # a small RGB stem: 7x7, stride 2, pad 3
    (1, 3, 9, 7, 17, 3, 3, 2, 1, 1),             # strided, padded, K past the 4-filter blocks
    (3, 2, 6, 11, 10, 2, 3, 1, (1, 2), 2),       # dilated, anisotropic padding
    (1, 4, 5, 5, 6, 5, 5, 1, 2, 1),              # kernel = input, C = 4
    (2, 3, 7, 8, 5, 1, 1, 1, 0, 1),              # 1x1
    (2, 2, 12, 13, 7, 3, 3, (2, 1), 1, (1, 2)),  # anisotropic stride and dilation
    (1, 2, 3, 300, 3, 3, 3, 1, 1, 1),            # long rows: several segments and a partial vector
    (1, 3, 6, 5, 5, 2, 2, 1, "same", 1),         # even kernel 'same': the extra pad at the end
    (1, 3, 13, 9, 8, 3, 3, 3, 0, 1),             # stride 3: input columns no tap reads
    (1, 2, 11, 17, 4, 2, 2, 3, 0, 1),            # stride > kernel: dgrad phases no tap reaches
    (1, 3, 20, 35, 9, 5, 4, (1, 3), (2, 1), 1),  # three column phases, even kernel width
    (1, 2, 4, 17, 3, 3, 3, 1, 1, 1),             # Q = 17: one lane past whole vectors of 16, 8, 4
    (1, 3, 3, 65, 5, 1, 3, 1, 0, 1),             # Q = 63: one lane short of whole vectors
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_passes_vs_reference(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation = case
    check_all_passes(np.random.default_rng(hash(case) % 2**32), N, C, H, W, K, R, S, stride, padding, dilation,
                     dtype=dtype, layout="NCHW")


# Channels-last output of filters with more than 27 taps: the planar forward through a transpose
# per output row (K and Q multiples of 16 and not), and the phase-form dgrad from channels-last dy.
NHWC_CASES = [
    (2, 3, 30, 30, 64, 7, 7, 2, 3, 1),
    (1, 3, 37, 41, 21, 7, 7, 2, 3, 1),
    (1, 2, 9, 40, 16, 5, 3, (1, 2), 1, 1),
    (2, 4, 6, 7, 3, 3, 3, 1, 1, 1),
]


@pytest.mark.parametrize("case", NHWC_CASES, ids=[str(i) for i in range(len(NHWC_CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_last_vs_reference(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation = case
    check_all_passes(np.random.default_rng(hash(case) % 2**32), N, C, H, W, K, R, S, stride, padding, dilation,
                     dtype=dtype, layout="NHWC")


def test_strided_views():
    """x is read through its strides (a channel slice, every other column); y may be a view with
    gaps between its planes and images."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 11, 21)).astype(np.float32)[:, 1:4, :, ::2]
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    out = np.full((2, 9, 9, 12), np.nan, np.float32)
    y = out[:, 1:7, :, 2:11]
    fc.conv2d(x, w, b, out=y)
    assert_close(y, ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)), 27, np.float32)
    untouched = out.copy()
    untouched[:, 1:7, :, 2:11] = np.nan
    assert np.isnan(untouched).all()


def test_small_integers_are_exact():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (2, 3, 23, 22)).astype(np.float32)
    w = rng.integers(-3, 4, (9, 3, 7, 7)).astype(np.float32)
    b = rng.integers(-3, 4, 9).astype(np.float32)
    y = fc.conv2d(x, w, b, stride=2, padding=3)
    np.testing.assert_array_equal(y, ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 3))
    dy = rng.integers(-3, 4, y.shape).astype(np.float32)
    dx, dw, _ = fc.conv2d_backward(dy, x, w, None, stride=2, padding=3, needs_input_grad=(True, True, False))
    np.testing.assert_array_equal(dx, ref.conv2d_dgrad(dy.astype(np.float64), x.shape, w.astype(np.float64), 2, 3))
    np.testing.assert_array_equal(dw, ref.conv2d_wgrad(dy.astype(np.float64), x.astype(np.float64), w.shape, 2, 3))


def test_every_output_element_written():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 19, 37)).astype(np.float32)
    w = rng.standard_normal((7, 3, 7, 7)).astype(np.float32)
    out = np.full((2, 7, 9, 18), np.nan, np.float32)
    fc.conv2d(x, w, None, stride=2, padding=2, out=out)
    assert np.isfinite(out).all()
    for _ in range(3):
        junk = np.full(3 * 19 * 37 * 2, np.nan, np.float32)
        del junk
        dx, dw, _ = fc.conv2d_backward(out, x, w, None, stride=2, padding=2, needs_input_grad=(True, True, False))
        assert np.isfinite(dx).all() and np.isfinite(dw).all()


def test_same_bits_for_any_thread_count_and_run():
    rng = np.random.default_rng(4)
    # 70 images: the weight gradient's reduction spans several units per part.
    x = rng.standard_normal((70, 3, 40, 38)).astype(np.float32)
    w = rng.standard_normal((13, 3, 7, 7)).astype(np.float32)
    dy = rng.standard_normal((70, 13, 20, 19)).astype(np.float32)
    assert_same_bits_for_thread_counts(lambda: [fc.conv2d(x, w, None, stride=2, padding=3)] + list(fc.conv2d_backward(
        dy, x, w, None, stride=2, padding=3, needs_input_grad=(True, True, False))[:2]))


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    """FASTCONV_ISA caps the path: the lower ones (the default one runs everywhere above) must pass too."""
    run_under_isa(isa, """
from test_conv2d_planar_direct import CASES, NHWC_CASES
from conv_cases import check_all_passes
for case in CASES:
    check_all_passes(rng, *case, dtype=np.float32, layout="NCHW")
    check_all_passes(rng, *case, dtype=np.float64, layout="NCHW")
for case in NHWC_CASES:
    check_all_passes(rng, *case, dtype=np.float32, layout="NHWC")
""")


@pytest.mark.parametrize("out_kind", ["fresh", "misaligned_view", "k_not_multiple_of_4"])
def test_large_channels_last_output(out_kind):
    """A channels-last output of 4 MB or more leaves through non-temporal stores where it is aligned
    to 4 floats, through ordinary stores where not: the same values either way, every element
    written, for any thread count."""
    rng = np.random.default_rng(5)
    K = 66 if out_kind == "k_not_multiple_of_4" else 64
    x = rng.standard_normal((1, 258, 258, 3)).astype(np.float32)
    w = rng.standard_normal((K, 7, 7, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    base = np.full(1 + 1 * 129 * 129 * K, np.nan, np.float32)
    out = (base[1:] if out_kind == "misaligned_view" else base[:-1]).reshape(1, 129, 129, K)
    assert out.nbytes >= 4 << 20
    assert_same_bits_for_thread_counts(lambda: fc.conv2d(x, w, b, stride=2, padding=3, layout="NHWC", out=out).copy())
    y_ref = ref.conv2d(x.transpose(0, 3, 1, 2).astype(np.float64), w.transpose(0, 3, 1, 2).astype(np.float64),
                       b.astype(np.float64), 2, 3)
    assert_close(out.transpose(0, 3, 1, 2), y_ref, 3 * 49, np.float32)
    np.testing.assert_array_equal(fc.conv2d(x, w, b, stride=2, padding=3, layout="NHWC"), out)
