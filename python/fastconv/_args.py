"""Argument normalisation shared by the ops: ints and pairs, padding modes, layouts.

Every helper raises TypeError / ValueError with a message that starts with the op's name and names
the argument and the value it got, before any kernel runs.
"""

from __future__ import annotations

import operator
from typing import Optional, Sequence, Tuple, Union

IntPair = Union[int, Sequence[int]]

LAYOUTS_2D = ("NCHW", "NHWC")


def as_int(value, name: str, op: str) -> int:
    """An integer argument (Python or NumPy int; bool refused)."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}") from None


def as_pair(value, name: str, op: str, minimum: int) -> Tuple[int, int]:
    """An int or a sequence of two ints, each >= minimum."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "__len__"):
        items = (as_int(value, name, op),) * 2
    else:
        try:
            seq = list(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
        if len(seq) == 1:
            seq = seq * 2
        if len(seq) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {len(seq)} values {value!r}")
        items = tuple(as_int(v, name, op) for v in seq)
    for v in items:
        if v < minimum:
            raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return items  # type: ignore[return-value]


def conv_padding(padding, kernel: Tuple[int, int], stride: Tuple[int, int], dilation: Tuple[int, int],
                 op: str) -> Tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right).

    'valid' is no padding; 'same' pads dilation*(k-1) in total per axis with the odd extra at the
    end, as torch does, and needs stride 1.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, got stride={stride}")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return tuple(pads)  # type: ignore[return-value]
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = as_pair(padding, "padding", op, minimum=0)
    return (ph, ph, pw, pw)


def layout_2d(layout, op: str) -> str:
    if not isinstance(layout, str):
        raise TypeError(f"{op}: layout must be a string, got {type(layout).__name__}")
    name = layout.upper()
    if name not in LAYOUTS_2D:
        raise ValueError(f"{op}: layout must be 'NCHW' or 'NHWC', got {layout!r}")
    return name


def choice(value, name: str, op: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{op}: {name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def optional_nonzero_int(value, name: str, op: str) -> Optional[int]:
    if value is None:
        return None
    v = as_int(value, name, op)
    if v == 0:
        raise ValueError(f"{op}: {name} must not be zero, got {value!r}")
    return v


def as_bool(value, name: str, op: str) -> bool:
    if isinstance(value, bool):
        return value
    try:
        import numpy as np

        if isinstance(value, np.bool_):
            return bool(value)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, int):
        return bool(value)
    raise TypeError(f"{op}: {name} must be a bool, got {type(value).__name__} {value!r}")


def as_tuple(value, n: int, name: str, op: str, minimum: int) -> Tuple[int, ...]:
    """An int or a sequence of n ints (a 1-sequence is repeated, as torch's ``_ntuple``), each >= minimum."""
    what = "an int" if n == 1 else f"an int or a tuple of {n} ints"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(value, "__len__"):
        items = (as_int(value, name, op),) * n
    else:
        try:
            seq = list(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be {what}, got {value!r}") from None
        if len(seq) == 1:
            seq = seq * n
        if len(seq) != n:
            raise ValueError(f"{op}: {name} must be {what}, got {len(seq)} values {value!r}")
        items = tuple(as_int(v, name, op) for v in seq)
    for v in items:
        if v < minimum:
            raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return items


def conv_padding_nd(padding, kernel: Tuple[int, ...], stride: Tuple[int, ...], dilation: Tuple[int, ...],
                    op: str) -> Tuple[Tuple[int, int], ...]:
    """Padding as one (lo, hi) pair per spatial axis; 'same' puts the odd extra at the end (stride 1 only)."""
    n = len(kernel)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, got stride={stride}")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: padding must be an int, a tuple of {n} ints, 'same' or 'valid', got {padding!r}")
    return tuple((p, p) for p in as_tuple(padding, n, "padding", op, minimum=0))


LAYOUTS_BY_DIMS = {1: ("NCW", "NWC"), 2: ("NCHW", "NHWC"), 3: ("NCDHW", "NDHWC")}


def layout_nd(layout, dims: int, op: str) -> str:
    """A layout name for `dims` spatial axes, upper-cased: channels-first or channels-last."""
    allowed = LAYOUTS_BY_DIMS[dims]
    if not isinstance(layout, str):
        raise TypeError(f"{op}: layout must be a string, got {type(layout).__name__}")
    name = layout.upper()
    if name not in allowed:
        raise ValueError(f"{op}: layout must be {allowed[0]!r} or {allowed[1]!r}, got {layout!r}")
    return name
