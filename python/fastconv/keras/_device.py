"""Where a model computes: ``'auto'``, ``'cpu'`` or ``'cuda'``.

The layers hold NumPy arrays and call fastconv's CPU kernels; this version has no GPU training path
(it would need device arrays end to end and GPU kernels for every op on the path), so 'auto' means
the CPU and 'cuda' is refused with a message saying why.
"""

from __future__ import annotations

import fastconv

DEVICES = ("auto", "cpu", "cuda")


def resolve(device) -> str:
    if not isinstance(device, str) or device.lower() not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(repr(d) for d in DEVICES)}, got {device!r}")
    device = device.lower()
    if device == "cuda":
        if not fastconv.cuda_available():
            raise RuntimeError("device='cuda' needs a CUDA build of fastconv and a usable GPU, and none was found "
                               "(fastconv.cuda_available() is False); use device='cpu' or 'auto'")
        raise RuntimeError("device='cuda': fastconv.keras has no GPU training path in this version (its layers "
                           "compute on NumPy arrays with the CPU kernels); use device='cpu' or 'auto'")
    return "cpu"
