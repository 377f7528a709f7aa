"""Direct convolution for few input channels (C <= 4, one group) with channels-last output: the
forward pass and the weight gradient of an image model's first layer (conv2d_*_direct_few_channels),
against the float64 reference, on every ISA path."""


import numpy as np
import pytest

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close

from conv_cases import assert_same_bits_for_thread_counts, check_all_passes, run_under_isa, to_layout, to_nchw

# (N, C, H, W, K, R, S, stride, padding, dilation)
CASES = [
    (3, 1, 28, 28, 32, 3, 3, 1, 0, 1),           # the seed model's first layer: one block of 32 filters
    (1, 1, 5, 5, 1, 3, 3, 1, 0, 1),              # one filter, tiny image
    (2, 3, 9, 7, 17, 3, 3, 2, 1, 1),             # RGB, strided, padded, K past one vector
    (3, 2, 6, 11, 40, 2, 3, 1, (1, 2), 2),       # dilated, anisotropic padding, K = 32 + 8
    (1, 4, 5, 5, 64, 5, 5, 1, 2, 1),             # kernel = input, 100 taps (several tap chunks)
    (2, 3, 7, 8, 33, 1, 1, 1, 0, 1),             # 1x1, K = 33
    (2, 1, 12, 13, 70, 3, 3, (2, 1), 1, (1, 2)), # three filter blocks, the last partial
    (1, 1, 3, 40, 16, 3, 3, 1, 1, 1),            # long rows: several pixel tiles and a remainder
    (2, 2, 4, 4, 31, 3, 3, 1, "same", 1),        # 'same', K = 31
    (1, 3, 6, 5, 5, 2, 2, 1, "same", 1),         # even kernel 'same': the extra pad at the end
    (1, 1, 13, 9, 8, 3, 3, 3, 0, 1),             # stride 3: input columns no tap reads
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_passes_vs_reference(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation = case
    check_all_passes(np.random.default_rng(hash(case) % 2**32), N, C, H, W, K, R, S, stride, padding, dilation,
                     dtype=dtype, layout="NHWC")


def test_strided_input_view():
    """The input is read through its strides: a channel slice of a wider NHWC array."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((2, 11, 10, 5)).astype(np.float32)
    x = base[:, :, :, 1:4]
    w = rng.standard_normal((20, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((2, 9, 8, 20)).astype(np.float32)
    xr, wr, dyr = (to_nchw(a, "NHWC").astype(np.float64) for a in (x, w, dy))
    y = fc.conv2d(x, w, None, layout="NHWC")
    assert_close(to_nchw(y, "NHWC"), ref.conv2d(xr, wr, None), 27, np.float32)
    _, dw, _ = fc.conv2d_backward(dy, x, w, None, layout="NHWC", needs_input_grad=(False, True, False))
    assert_close(to_nchw(dw, "NHWC"), ref.conv2d_wgrad(dyr, xr, wr.shape), 2 * 9 * 8, np.float32)


def test_small_integers_are_exact():
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, (4, 13, 12, 3)).astype(np.float32)
    w = rng.integers(-3, 4, (37, 3, 3, 3)).astype(np.float32)
    b = rng.integers(-3, 4, 37).astype(np.float32)
    dy = rng.integers(-3, 4, (4, 13, 12, 37)).astype(np.float32)
    xr, wr, dyr = (to_nchw(a, "NHWC").astype(np.float64) for a in (x, w, dy))
    y = fc.conv2d(x, w, b, padding=1, layout="NHWC")
    np.testing.assert_array_equal(to_nchw(y, "NHWC"), ref.conv2d(xr, wr, b.astype(np.float64), 1, 1))
    _, dw, _ = fc.conv2d_backward(dy, x, w, None, padding=1, layout="NHWC", needs_input_grad=(False, True, False))
    np.testing.assert_array_equal(to_nchw(dw, "NHWC"), ref.conv2d_wgrad(dyr, xr, wr.shape, 1, 1))


def test_every_output_element_written():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 9, 2)).astype(np.float32)
    w = rng.standard_normal((35, 3, 3, 2)).astype(np.float32)
    out = np.full((2, 8, 7, 35), np.nan, np.float32)
    fc.conv2d(x, w, None, layout="NHWC", out=out)
    assert np.isfinite(out).all()
    for _ in range(3):
        junk = np.full(35 * 9 * 2, np.nan, np.float32)
        del junk
        _, dw, _ = fc.conv2d_backward(out, x, w, None, layout="NHWC", needs_input_grad=(False, True, False))
        assert np.isfinite(dw).all()


def test_weight_gradient_same_bits_for_any_thread_count_and_run():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 30, 29, 1)).astype(np.float32)
    w = rng.standard_normal((32, 3, 3, 1)).astype(np.float32)
    dy = rng.standard_normal((9, 28, 27, 32)).astype(np.float32)
    assert_same_bits_for_thread_counts(lambda: [
        fc.conv2d_backward(dy, x, w, None, layout="NHWC", needs_input_grad=(False, True, False))[1],
        fc.conv2d(x, w, None, layout="NHWC")])


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_every_isa_path(isa):
    """FASTCONV_ISA caps the path: the lower ones (the default one runs everywhere above) must pass too."""
    run_under_isa(isa, """
from test_conv2d_few_channels import CASES
from conv_cases import check_all_passes
for case in CASES:
    check_all_passes(rng, *case, dtype=np.float32, layout="NHWC")
""")
