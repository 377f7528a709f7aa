"""fastconv as a PyTorch backend (imported on demand; needs torch).

- ``torch.ops.fastconv.<op>`` and ``<op>_backward`` for each fastconv op with a backward (conv1d/2d/3d,
  conv_transpose1d/2d/3d, max/avg/adaptive pools, ... as this build has them), registered with
  ``torch.library``: autograd through fastconv's backward ops, fake kernels for ``torch.compile``,
  channels-last tensors on fastconv's NHWC/NDHWC path without copies.
- ``fastconv.torch.conv2d``, ``max_pool2d``, ...: ``torch.nn.functional``'s signatures on those ops.
- ``fastconv.torch.Conv2d``, ``MaxPool2d``, ...: drop-in ``torch.nn`` modules.
- :func:`convert`: swap them into an existing model in place.
"""

if __name__ != "fastconv.torch":
    raise ImportError(f"{__file__} was imported as {__name__!r}, not as fastconv.torch: a directory inside the "
                      "fastconv package is on sys.path (the current directory?) and hides PyTorch; run from "
                      "another directory")

import torch  # noqa: E402  (absolute import: the PyTorch package, never this one)

from . import _ops  # noqa: F401,E402  (registers the ops)
from . import functional, modules  # noqa: E402
from .convert import ConvertReport, convert  # noqa: E402
from .functional import *  # noqa: F401,F403,E402
from .modules import *  # noqa: F401,F403,E402

__all__ = [*functional.__all__, *modules.__all__, "convert", "ConvertReport", "registered_ops"]


def registered_ops():
    """Names of the forward ops registered under ``torch.ops.fastconv`` (each with ``<name>_backward``)."""
    from ._library import registered

    return sorted(registered())
