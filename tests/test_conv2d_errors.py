"""Every bad argument of conv2d / conv2d_backward raises the right exception, naming the argument,
before any kernel runs."""

import numpy as np
import pytest

import fastconv as fc

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)
B = np.zeros(6, np.float32)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(input=np.zeros((4, 8), np.float32)), ValueError, "input"),
    (dict(input=np.zeros((1, 2, 4, 8, 8), np.float32)), ValueError, "input"),
    (dict(weight=np.zeros((6, 4, 3), np.float32)), ValueError, "weight"),
    (dict(weight=np.zeros((6, 3, 3, 3), np.float32)), ValueError, "channels"),
    (dict(bias=np.zeros(5, np.float32)), ValueError, "bias"),
    (dict(bias=np.zeros((6, 1), np.float32)), ValueError, "bias"),
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(stride="2"), TypeError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding="same", stride=2), ValueError, "padding"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=3), ValueError, "groups"),
    (dict(groups=4, weight=np.zeros((6, 1, 3, 3), np.float32)), ValueError, "groups"),
    (dict(groups=True), TypeError, "groups"),
    (dict(groups=2.0), TypeError, "groups"),
    (dict(weight=np.zeros((6, 4, 9, 9), np.float32)), ValueError, "kernel size"),
    (dict(dilation=5), ValueError, "kernel size"),
    (dict(input=X.astype(np.int32)), TypeError, "input"),
    (dict(input=X.astype(bool)), TypeError, "input"),
    (dict(input=X.astype(np.complex64)), TypeError, "input"),
    (dict(input=X.astype(np.float16)), TypeError, "input"),
    (dict(weight=W.astype(np.float64)), TypeError, "dtype"),
    (dict(bias=B.astype(np.float64)), TypeError, "dtype"),
    (dict(input=[[1.0]]), TypeError, "input"),
    (dict(input=None), TypeError, "input"),
    (dict(weight="w"), TypeError, "weight"),
    (dict(layout="NWHC"), ValueError, "layout"),
    (dict(layout=4), TypeError, "layout"),
    (dict(algorithm="fft"), ValueError, "algorithm"),
])
def test_forward_bad_arguments(kwargs, exc, match):
    args = dict(input=X, weight=W, bias=B, stride=1, padding=0, dilation=1, groups=1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fc.conv2d(**args)
    with pytest.raises(exc, match=match):
        fc.conv2d_backward(np.zeros((2, 6, 6, 6), np.float32), **args)


def test_message_names_values_like_torch():
    with pytest.raises(ValueError) as info:
        fc.conv2d(np.zeros((1, 3, 8, 8), np.float32), np.zeros((4, 5, 3, 3), np.float32))
    msg = str(info.value)
    assert "conv2d" in msg and "5 channels" in msg and "(4, 5, 3, 3)" in msg and "got 3" in msg


@pytest.mark.parametrize("dy, exc, match", [
    (np.zeros((2, 6, 5, 6), np.float32), ValueError, "grad_output"),
    (np.zeros((6, 6, 6), np.float32), ValueError, "grad_output"),
    (np.zeros((2, 6, 6, 6), np.float64), TypeError, "grad_output"),
    (np.zeros((2, 6, 6, 6), np.int64), TypeError, "grad_output"),
    (None, TypeError, "grad_output"),
])
def test_backward_bad_grad_output(dy, exc, match):
    with pytest.raises(exc, match=match):
        fc.conv2d_backward(dy, X, W, B)


@pytest.mark.parametrize("flags, exc", [((True,), ValueError), (3, TypeError), ((1, 1, 1, 1), ValueError)])
def test_backward_bad_needs_input_grad(flags, exc):
    with pytest.raises(exc, match="needs_input_grad"):
        fc.conv2d_backward(np.zeros((2, 6, 6, 6), np.float32), X, W, B, needs_input_grad=flags)


def test_bad_out_argument():
    with pytest.raises(ValueError, match="out"):
        fc.conv2d(X, W, out=np.zeros((2, 6, 5, 5), np.float32))
    with pytest.raises(TypeError, match="out"):
        fc.conv2d(X, W, out=np.zeros((2, 6, 6, 6), np.float64))
    ro = np.zeros((2, 6, 6, 6), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        fc.conv2d(X, W, out=ro)


def test_huge_output_is_an_error_not_a_crash():
    x = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(2**20, 1, 2**12, 2**12),
                                        strides=(0, 0, 0, 0))
    w = np.zeros((64, 1, 1, 1), np.float32)
    with pytest.raises((MemoryError, ValueError)):
        fc.conv2d(x, w)


def test_errors_raised_before_writing_out():
    out = np.full((2, 6, 6, 6), 7.0, np.float32)
    with pytest.raises(TypeError):
        fc.conv2d(X, W, B.astype(np.float64), out=out)
    assert (out == 7.0).all()
