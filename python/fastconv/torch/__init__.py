"""fastconv as a PyTorch backend (imported on demand; needs torch).

- ``torch.ops.fastconv.<op>`` and ``<op>_backward`` for each fastconv op with a backward
  (conv2d, max_pool2d, avg_pool2d, ...), registered with ``torch.library``: autograd through
  fastconv's backward ops, fake kernels for ``torch.compile``, channels-last tensors on fastconv's
  NHWC path without copies.
- :func:`conv2d`, :func:`max_pool2d`, :func:`avg_pool2d`: ``torch.nn.functional`` signatures on those ops.
- :class:`Conv2d`, :class:`MaxPool2d`, :class:`AvgPool2d`: drop-in ``torch.nn`` modules.
- :func:`convert`: swap them into an existing model in place.
"""

if __name__ != "fastconv.torch":
    raise ImportError(f"{__file__} was imported as {__name__!r}, not as fastconv.torch: a directory inside the "
                      "fastconv package is on sys.path (the current directory?) and hides PyTorch; run from "
                      "another directory")

import torch  # noqa: E402  (absolute import: the PyTorch package, never this one)

from . import _ops  # noqa: F401,E402  (registers the ops)
from .convert import ConvertReport, convert
from .functional import avg_pool2d, conv2d, max_pool2d
from .modules import AvgPool2d, Conv2d, MaxPool2d

__all__ = [
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "convert",
    "ConvertReport",
    "registered_ops",
]


def registered_ops():
    """Names of the forward ops registered under ``torch.ops.fastconv`` (each with ``<name>_backward``)."""
    from ._library import registered

    return sorted(registered())
