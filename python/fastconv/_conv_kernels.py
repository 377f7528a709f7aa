"""The convolution kernels by number of spatial axes, on logical (N, C, *spatial) views.

1-D problems run on the 2-D kernels through views with a unit height axis (no copies); 3-D problems
run on the native 3-D kernels. Padding here is the leading pad per axis (the trailing pad is implied
by the output extents).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _C, _layout


def _as_2d(a: np.ndarray) -> np.ndarray:
    return _layout.unit_axis(a, 2)


def _params_2d(stride, pad_lo, dilation) -> Tuple[tuple, tuple, tuple]:
    return (1,) + tuple(stride), (0,) + tuple(pad_lo), (1,) + tuple(dilation)


def fprop(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], y: np.ndarray, stride, pad_lo, dilation,
          groups: int, algorithm: str) -> None:
    """y = conv(x, w) + b (b may be None)."""
    dims = x.ndim - 2
    if dims == 1:
        _C.conv2d_fprop(_as_2d(x), _as_2d(w), b, _as_2d(y), *_params_2d(stride, pad_lo, dilation), groups, algorithm)
    elif dims == 2:
        _C.conv2d_fprop(x, w, b, y, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)
    else:
        _C.conv3d_fprop(x, w, b, y, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)


def dgrad(dy: np.ndarray, w: np.ndarray, dx: np.ndarray, stride, pad_lo, dilation, groups: int,
          algorithm: str) -> None:
    """dx = the adjoint of conv(., w) applied to dy."""
    dims = dy.ndim - 2
    if dims == 1:
        _C.conv2d_dgrad(_as_2d(dy), _as_2d(w), _as_2d(dx), *_params_2d(stride, pad_lo, dilation), groups, algorithm)
    elif dims == 2:
        _C.conv2d_dgrad(dy, w, dx, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)
    else:
        _C.conv3d_dgrad(dy, w, dx, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)


def wgrad(dy: np.ndarray, x: np.ndarray, dw: np.ndarray, stride, pad_lo, dilation, groups: int,
          algorithm: str) -> None:
    """dw = d<conv(x, w), dy>/dw."""
    dims = dy.ndim - 2
    if dims == 1:
        _C.conv2d_wgrad(_as_2d(dy), _as_2d(x), _as_2d(dw), *_params_2d(stride, pad_lo, dilation), groups, algorithm)
    elif dims == 2:
        _C.conv2d_wgrad(dy, x, dw, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)
    else:
        _C.conv3d_wgrad(dy, x, dw, tuple(stride), tuple(pad_lo), tuple(dilation), groups, algorithm)


def bgrad(dy: np.ndarray, db: np.ndarray) -> None:
    """db[k] = sum of dy[:, k]."""
    dims = dy.ndim - 2
    if dims == 1:
        _C.conv2d_bgrad(_as_2d(dy), db)
    elif dims == 2:
        _C.conv2d_bgrad(dy, db)
    else:
        _C.conv3d_bgrad(dy, db)


def bias_add(y: np.ndarray, b: np.ndarray) -> None:
    _C.bias_add(y, b)
