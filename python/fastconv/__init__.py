"""fastconv: fast convolution and pooling kernels, forward and backward.

Ops mirror ``torch.nn.functional`` (names, argument order, defaults, semantics) and work on NumPy
arrays; every differentiable op ``f`` has ``f_backward(grad_output, *forward_args, **forward_kwargs)``.
"""

from ._backend import build_info, cuda_available, get_num_threads, set_num_threads
from .functional import (
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_backward,
    max_pool2d,
    max_pool2d_backward,
)

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "conv2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "set_num_threads",
    "get_num_threads",
    "build_info",
    "cuda_available",
    "__version__",
]
