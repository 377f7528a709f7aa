"""Array intake and output: which kinds of arrays an op accepts, dtype rules, and giving results
back as the kind of array the caller passed in.

CPU: NumPy arrays (any strides, read-only included), PyTorch CPU tensors (zero-copy, tensors
come back) and other CPU ``__dlpack__`` producers such as JAX arrays (read zero-copy with
``np.from_dlpack``, results given back through the producer's ``from_dlpack``). GPU arrays (``__cuda_array_interface__`` or a CUDA ``__dlpack__``) are recognised so that a
build or an op without a GPU path can say so clearly.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from fastconv import _output_pool

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# DLPack device types that live on a CUDA/ROCm GPU (kDLCUDA, kDLCUDAHost excluded, kDLCUDAManaged, kDLROCM).
_DLPACK_GPU_DEVICES = (2, 10, 13)


def _is_torch_tensor(obj: Any) -> bool:
    cls = type(obj)
    return cls.__module__.split(".")[0] == "torch" and hasattr(obj, "is_cuda") and hasattr(obj, "numpy")


def is_gpu_array(obj: Any) -> bool:
    if _is_torch_tensor(obj):
        return obj.device.type != "cpu"
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is not None and not isinstance(obj, np.ndarray):
        try:
            return int(dev()[0]) in _DLPACK_GPU_DEVICES
        except Exception:  # a broken producer is not our caller's GPU
            return False
    return False


def _gpu_refusal(op: str, name: str) -> Exception:
    from . import _backend

    if not _backend.build_info()["cuda"]:
        return RuntimeError(
            f"{op}: {name} is a GPU array but this fastconv build has no CUDA backend; "
            "reinstall with nvcc available (FASTCONV_CUDA=ON pip install fastconv) or pass a NumPy array")
    return RuntimeError(f"{op}: {name} is a GPU array and {op} has no GPU kernel in this version; "
                        "copy it to the host (e.g. cupy.asnumpy / tensor.cpu()) first")


class Wrapper:
    """Remembers the kind of the first array argument, to return results of the same kind."""

    def __init__(self, torch_module: Any = None):
        self._torch = torch_module

    def __call__(self, a: Optional[np.ndarray]):
        if a is None or self._torch is None:
            return a
        return self._torch.from_numpy(a)


class DLPackWrapper(Wrapper):
    """Gives results back through the producer library's ``from_dlpack`` (zero-copy on the CPU)."""

    def __init__(self, from_dlpack):
        super().__init__()
        self._from_dlpack = from_dlpack

    def __call__(self, a: Optional[np.ndarray]):
        return None if a is None else self._from_dlpack(a)


def _producer_from_dlpack(obj: Any):
    """The ``from_dlpack`` of the library that made ``obj`` (JAX's lives in jax.numpy), or None."""
    import sys

    root = type(obj).__module__.split(".")[0]
    if root in ("jax", "jaxlib"):
        jnp = sys.modules.get("jax.numpy")
        return getattr(jnp, "from_dlpack", None)
    lib = sys.modules.get(root)
    fn = getattr(lib, "from_dlpack", None)
    return fn if callable(fn) else None


def dlpack_wrapper(obj: Any) -> Wrapper:
    """How to return results for a CPU ``__dlpack__`` argument: as the producer's arrays when its
    library has a ``from_dlpack``, else as NumPy arrays (themselves DLPack producers)."""
    fn = _producer_from_dlpack(obj)
    return Wrapper() if fn is None else DLPackWrapper(fn)


def to_numpy(obj: Any, name: str, op: str, *, optional: bool = False) -> Tuple[Optional[np.ndarray], Wrapper]:
    """A CPU float array argument as a NumPy array (no copy) and how to wrap results like it."""
    if obj is None:
        if optional:
            return None, Wrapper()
        raise TypeError(f"{op}: {name} must be an array, got None")
    if isinstance(obj, np.ndarray):
        arr, wrap = obj, Wrapper()
    elif _is_torch_tensor(obj):
        if obj.device.type != "cpu":
            raise _gpu_refusal(op, name)
        import torch

        t = obj.detach()
        if t.is_conj() or t.is_neg():
            t = t.resolve_conj().resolve_neg()
        try:
            arr = t.numpy()
        except TypeError:
            raise TypeError(f"{op}: {name} must be float32 or float64, got {obj.dtype}") from None
        wrap = Wrapper(torch)
    elif is_gpu_array(obj):
        raise _gpu_refusal(op, name)
    elif hasattr(obj, "__dlpack__") or hasattr(obj, "__array_interface__") or hasattr(obj, "__array__"):
        if isinstance(obj, (int, float, complex, bool, np.generic)):
            raise TypeError(f"{op}: {name} must be an array, got {type(obj).__name__} {obj!r}")
        try:
            arr = np.from_dlpack(obj) if hasattr(obj, "__dlpack__") else np.asarray(obj)
        except Exception as exc:
            raise TypeError(f"{op}: {name} could not be read as an array: {exc}") from None
        wrap = dlpack_wrapper(obj) if hasattr(obj, "__dlpack__") else Wrapper()
    else:
        raise TypeError(f"{op}: {name} must be a NumPy array or a tensor, got {type(obj).__name__}")
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {arr.dtype}")
    return arr, wrap


def same_dtype(op: str, **arrays: Optional[np.ndarray]) -> np.dtype:
    """The common dtype of the given arrays; TypeError naming them when they differ."""
    present = {k: a for k, a in arrays.items() if a is not None}
    dtypes = {a.dtype for a in present.values()}
    if len(dtypes) > 1:
        desc = ", ".join(f"{k}={a.dtype}" for k, a in present.items())
        raise TypeError(f"{op}: expected all arrays to have the same dtype, got {desc}")
    return next(iter(dtypes))


def kernel_ready(a: np.ndarray) -> np.ndarray:
    """The array itself when the kernels can read it in place, else a contiguous copy.

    Kernels take any strides in whole elements (negative and zero included) from an aligned pointer.
    """
    item = a.itemsize
    if a.flags.aligned and all(s % item == 0 for s in a.strides):
        return a
    return np.ascontiguousarray(a)


def check_out(out: Any, shape: Tuple[int, ...], dtype: np.dtype, op: str) -> np.ndarray:
    """Validate a user-supplied ``out=`` array."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: out must be a NumPy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{op}: out must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{op}: out must have dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{op}: out is read-only")
    if not out.flags.aligned or any(s % out.itemsize for s in out.strides):
        raise ValueError(f"{op}: out must be aligned with strides in whole elements")
    return out


def empty(shape: Tuple[int, ...], dtype: np.dtype, op: str) -> np.ndarray:
    """np.empty with a clear error for outputs too large to allocate."""
    try:
        return aligned_empty(shape, dtype)
    except (MemoryError, ValueError) as exc:
        raise MemoryError(f"{op}: cannot allocate an output of shape {tuple(shape)} and dtype {dtype}: {exc}") from None


# Cache-line aligned outputs: whole-vector stores, and JAX (whose CPU buffers must be 64-byte aligned)
# can take them through DLPack without a copy.
ALIGNMENT = 64


def aligned_empty(shape: Tuple[int, ...], dtype: np.dtype, alignment: int = ALIGNMENT) -> np.ndarray:
    """np.empty whose data starts on an ``alignment``-byte boundary; large ones from _output_pool."""
    dtype = np.dtype(dtype)
    count = 1
    for n in shape:
        count *= int(n)
    nbytes = count * dtype.itemsize
    if nbytes >= _output_pool.MIN_BYTES:
        buf = _output_pool.take(nbytes + alignment)
    else:
        buf = np.empty(nbytes + alignment, dtype=np.uint8)
    return np.ndarray(tuple(shape), dtype=dtype, buffer=buf, offset=-buf.ctypes.data % alignment)
