"""Loads the native extension and exposes the runtime controls of API.md section 4."""

from __future__ import annotations

import os
import platform
from typing import Any, Dict

from . import _C

__all__ = ["set_num_threads", "get_num_threads", "build_info", "cuda_available"]


def set_num_threads(n: int) -> None:
    """Set the number of CPU threads the kernels use (the calling thread included)."""
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    n = int(n.__index__())
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Number of CPU threads the kernels use; by default the cores this process may run on."""
    return int(_C.get_num_threads())


def cuda_available() -> bool:
    """True when fastconv was built with CUDA and a usable GPU is present."""
    return bool(_C.native_build_info()["cuda"]) and _C.cuda_device_count() > 0


def build_info() -> Dict[str, Any]:
    """How this copy of fastconv was built and what it found on this machine.

    Keys: ``version``, ``compiler``, ``arch``, ``cpu_isa_compiled`` (kernel paths built in),
    ``cpu_isa_selected`` (the path used here), ``cpu_features`` (detected), ``cuda`` (CUDA backend
    built), ``cuda_archs``, ``cuda_devices`` (names of usable GPUs), ``num_threads``.
    """
    info = dict(_C.native_build_info())
    info["python"] = platform.python_version()
    info["num_threads"] = get_num_threads()
    count = _C.cuda_device_count() if info["cuda"] else 0
    info["cuda_devices"] = [_C.cuda_device_name(i) for i in range(count)]
    return info
