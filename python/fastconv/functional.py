"""The functional ops, mirroring torch.nn.functional, and their ``_backward`` companions."""

from ._conv2d import conv2d, conv2d_backward
from ._pool2d import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward

__all__ = [
    "conv2d",
    "conv2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
]
