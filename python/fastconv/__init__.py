"""fastconv: fast convolution and pooling kernels, forward and backward.

Ops mirror ``torch.nn.functional`` (names, argument order, defaults, semantics) and work on NumPy
arrays; every differentiable op ``f`` has ``f_backward(grad_output, *forward_args, **forward_kwargs)``.
"""

from ._backend import build_info, cuda_available, get_num_threads, set_num_threads
from . import functional as _functional
from .functional import *  # noqa: F401,F403  (the ops, listed in functional.__all__)

__version__ = "0.1.0"

__all__ = [
    *_functional.__all__,
    "set_num_threads",
    "get_num_threads",
    "build_info",
    "cuda_available",
    "__version__",
]
