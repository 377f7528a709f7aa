"""The benchmark layer suite (BENCHMARKS.md) as data.

Each convolution case is a :class:`ConvProblem`, each pooling case a :class:`PoolProblem`; both
know their shapes in either layout, their output size, their work (FLOPs or bytes) and the
reduction lengths that scale validation tolerances. ``python -m fastconv bench`` runs them.

    x: (N, C, H, W)    w: (K, C/groups, R, S)    y: (N, K, P, Q)      (NCHW)
    x: (N, H, W, C)    w: (K, R, S, C/groups)    y: (N, P, Q, K)      (NHWC)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple, Union

__all__ = [
    "ConvProblem",
    "PoolProblem",
    "CONV_PROBLEMS",
    "POOL_PROBLEMS",
    "ALL_PROBLEMS",
    "select",
]

Shape = Tuple[int, ...]


def _out_size(L: int, k: int, s: int, p: int) -> int:
    return (L + 2 * p - k) // s + 1


def _stored(logical: Shape, layout: str) -> Shape:
    n, c, h, w = logical
    if layout == "NCHW":
        return (n, c, h, w)
    if layout == "NHWC":
        return (n, h, w, c)
    raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")


@dataclass(frozen=True)
class ConvProblem:
    """One conv2d layer: ``conv2d(x, w, b, stride, pad, 1, groups)`` with a square kernel."""

    name: str
    N: int
    C: int
    K: int
    H: int
    W: int
    kernel: int
    stride: int = 1
    pad: int = 0
    groups: int = 1

    kind = "conv"

    @property
    def P(self) -> int:
        return _out_size(self.H, self.kernel, self.stride, self.pad)

    @property
    def Q(self) -> int:
        return _out_size(self.W, self.kernel, self.stride, self.pad)

    def x_shape(self, layout: str = "NCHW") -> Shape:
        return _stored((self.N, self.C, self.H, self.W), layout)

    def w_shape(self, layout: str = "NCHW") -> Shape:
        """(K, C/groups, R, S) for NCHW, (K, R, S, C/groups) for NHWC (KRSC)."""
        return _stored((self.K, self.C // self.groups, self.kernel, self.kernel), layout)

    def y_shape(self, layout: str = "NCHW") -> Shape:
        return _stored((self.N, self.K, self.P, self.Q), layout)

    @property
    def fprop_flops(self) -> int:
        """2*N*K*P*Q*(C/groups)*R*S: one multiply and one add per tap."""
        return 2 * self.N * self.K * self.P * self.Q * (self.C // self.groups) * self.kernel ** 2

    @property
    def bgrad_flops(self) -> int:
        """The bias gradient's adds: one per element of dy."""
        return self.N * self.K * self.P * self.Q

    @property
    def backward_flops(self) -> int:
        """dgrad + wgrad (each as many FLOPs as fprop) + the bias gradient's adds."""
        return 2 * self.fprop_flops + self.bgrad_flops

    def flops(self, pass_: str) -> int:
        """Nominal FLOPs of one pass: ``fwd``, ``bwd`` (dx + dw + db), ``dx``, ``dw`` or ``db``.

        dgrad and wgrad touch the same (output pixel, tap) pairs as fprop, so each counts as many
        FLOPs as fprop, whatever algorithm runs (Winograd does fewer multiplies: its GFLOP/s are
        effective rates and may exceed the FMA peak).
        """
        table = {"fwd": self.fprop_flops, "bwd": self.backward_flops, "dx": self.fprop_flops,
                 "dw": self.fprop_flops, "db": self.bgrad_flops}
        if pass_ not in table:
            raise ValueError(f"ConvProblem.flops: pass must be one of {sorted(table)}, got {pass_!r}")
        return table[pass_]

    @property
    def fprop_reduction(self) -> int:
        """Terms summed into each output element (the bias add aside)."""
        return (self.C // self.groups) * self.kernel ** 2

    @property
    def dgrad_reduction(self) -> int:
        """Most terms summed into one input-gradient element."""
        taps = -(-self.kernel // self.stride)
        return (self.K // self.groups) * taps * taps

    @property
    def wgrad_reduction(self) -> int:
        """Terms summed into each weight- and bias-gradient element."""
        return self.N * self.P * self.Q

    def with_batch(self, N: int) -> "ConvProblem":
        return dataclasses.replace(self, N=N)


@dataclass(frozen=True)
class PoolProblem:
    """One pooling layer: ``max_pool2d`` or ``avg_pool2d`` with a square window."""

    name: str
    kind: str          # "max" or "avg"
    N: int
    C: int
    H: int
    W: int
    kernel: int
    stride: int
    pad: int = 0

    def __post_init__(self):
        if self.kind not in ("max", "avg"):
            raise ValueError(f"PoolProblem.kind must be 'max' or 'avg', got {self.kind!r}")

    @property
    def P(self) -> int:
        return _out_size(self.H, self.kernel, self.stride, self.pad)

    @property
    def Q(self) -> int:
        return _out_size(self.W, self.kernel, self.stride, self.pad)

    def x_shape(self, layout: str = "NCHW") -> Shape:
        return _stored((self.N, self.C, self.H, self.W), layout)

    def y_shape(self, layout: str = "NCHW") -> Shape:
        return _stored((self.N, self.C, self.P, self.Q), layout)

    @property
    def window_reduction(self) -> int:
        """Terms in each forward window."""
        return self.kernel * self.kernel

    @property
    def dgrad_reduction(self) -> int:
        """Most windows that one input element belongs to (terms added into its gradient)."""
        taps = -(-self.kernel // self.stride)
        return taps * taps

    def fprop_bytes(self, itemsize: int = 4) -> int:
        """The memory floor: read x once, write y once."""
        return itemsize * (self.N * self.C) * (self.H * self.W + self.P * self.Q)

    def backward_bytes(self, itemsize: int = 4) -> int:
        """Read dy and x (max: to find the argmax; avg: not needed), write dx."""
        reads_x = self.kind == "max"
        return itemsize * (self.N * self.C) * (self.P * self.Q + self.H * self.W * (2 if reads_x else 1))

    def bytes(self, pass_: str, itemsize: int = 4) -> int:
        """The memory floor of one pass: ``fwd`` or ``bwd``."""
        if pass_ == "fwd":
            return self.fprop_bytes(itemsize)
        if pass_ == "bwd":
            return self.backward_bytes(itemsize)
        raise ValueError(f"PoolProblem.bytes: pass must be 'fwd' or 'bwd', got {pass_!r}")

    def with_batch(self, N: int) -> "PoolProblem":
        return dataclasses.replace(self, N=N)


Problem = Union[ConvProblem, PoolProblem]

# The layer suite of BENCHMARKS.md (float32). The seed model's layers come first.
CONV_PROBLEMS: List[ConvProblem] = [
    ConvProblem("seed.conv1", N=64, C=1, K=32, H=28, W=28, kernel=3),
    ConvProblem("seed.conv2", N=64, C=32, K=64, H=13, W=13, kernel=3),
    ConvProblem("seed.conv3", N=64, C=64, K=64, H=5, W=5, kernel=3),
    ConvProblem("resnet.3x3.56", N=8, C=64, K=64, H=56, W=56, kernel=3, pad=1),
    ConvProblem("resnet.3x3.28", N=8, C=128, K=128, H=28, W=28, kernel=3, pad=1),
    ConvProblem("resnet.3x3.14", N=8, C=256, K=256, H=14, W=14, kernel=3, pad=1),
    ConvProblem("resnet.1x1.56", N=8, C=256, K=64, H=56, W=56, kernel=1),
    ConvProblem("resnet.3x3.s2", N=8, C=64, K=128, H=56, W=56, kernel=3, stride=2, pad=1),
    ConvProblem("resnet.1x1.s2", N=8, C=256, K=128, H=56, W=56, kernel=1, stride=2),
    ConvProblem("stem.7x7.s2", N=4, C=3, K=64, H=224, W=224, kernel=7, stride=2, pad=3),
    ConvProblem("depthwise.3x3", N=8, C=128, K=128, H=56, W=56, kernel=3, pad=1, groups=128),
]

POOL_PROBLEMS: List[PoolProblem] = [
    PoolProblem("maxpool.3x3.s2", "max", N=8, C=64, H=112, W=112, kernel=3, stride=2, pad=1),
    PoolProblem("seed.maxpool.2x2", "max", N=64, C=32, H=26, W=26, kernel=2, stride=2),
]

ALL_PROBLEMS: List[Problem] = [*CONV_PROBLEMS, *POOL_PROBLEMS]


def select(patterns: Sequence[str] = (), problems: Iterable[Problem] = ALL_PROBLEMS) -> List[Problem]:
    """The problems whose name contains any of ``patterns`` (all of them when none are given)."""
    problems = list(problems)
    if not patterns:
        return problems
    return [p for p in problems if any(s in p.name for s in patterns)]
