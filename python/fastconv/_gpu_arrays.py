"""GPU arrays in and out (API.md section 2): CuPy arrays, PyTorch CUDA tensors, and any object with
``__cuda_array_interface__`` (v2/v3) or a CUDA ``__dlpack__``.

How a GPU call goes:

- ``on_gpu(op, input=x, weight=w, ...)`` is the one place where an op picks the GPU: True when every
  array argument is a GPU array, False when none is; a mix of CPU and GPU arrays raises ValueError,
  and a GPU array given to a build without CUDA raises RuntimeError (reinstall with FASTCONV_CUDA=ON).
- A :class:`GpuCall` takes in the arrays (``intake``): float32 only (float64 raises TypeError: the CUDA
  kernels are float32 for now), all on one device (else ValueError). The kernels read any element
  strides, so non-contiguous views (transposes, slices, negative strides) are read in place; only an
  array whose pointer or strides are not whole float32 elements is first copied with its own library.
- Outputs and workspace come from the first array's library (``cupy.empty`` / ``torch.empty``: their
  memory pools, no ``cudaMalloc`` per call) on its device, and are returned as that library's arrays:
  CuPy in, CuPy out; torch in, torch out. An object that is neither (a Numba array, a raw
  ``__cuda_array_interface__`` or DLPack producer) is viewed through CuPy when it is installed, else
  through PyTorch, and the result is a CuPy array (or a torch tensor).
- Kernels launch on that library's current stream for the device (``cupy.cuda.get_current_stream()``,
  ``torch.cuda.current_stream(device)``), with the device made current around the launch. A
  ``__cuda_array_interface__`` that names a ``stream`` is honoured: the launch stream waits on it (an
  event, not a host synchronisation).

CuPy and PyTorch are imported only when a GPU array from them (or needing them) arrives.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import _C

_FLOAT32 = np.dtype(np.float32)
_INT64 = np.dtype(np.int64)
# DLPack device types of CUDA memory: kDLCUDA, kDLCUDAManaged.
_DLPACK_CUDA = (2, 13)


# --------------------------------------------------------------------------- recognising GPU arrays


def _module_root(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _is_torch(obj: Any) -> bool:
    return _module_root(obj) == "torch" and hasattr(obj, "data_ptr") and hasattr(obj, "device")


def _is_cupy(obj: Any) -> bool:
    return _module_root(obj) == "cupy" and hasattr(obj, "data") and hasattr(obj, "device")


def is_gpu_array(obj: Any) -> bool:
    """True for a CUDA array of any kind (torch CUDA tensor, CuPy, CAI or CUDA DLPack object)."""
    if obj is None or isinstance(obj, np.ndarray):
        return False
    if _is_torch(obj):
        return obj.device.type == "cuda"
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is not None:
        try:
            return int(dev()[0]) in _DLPACK_CUDA
        except Exception:  # a broken producer is not a GPU array
            return False
    return False


def _device_words(obj: Any) -> str:
    if _is_torch(obj):
        return f"a tensor on {obj.device}"
    if is_gpu_array(obj):
        return "a GPU array"
    return f"a CPU array ({type(obj).__name__})"


def on_gpu(op: str, **arrays: Any) -> bool:
    """Whether `op` runs on the GPU for these array arguments (None entries are ignored).

    ValueError when CPU and GPU arrays are mixed; RuntimeError for GPU arrays in a build without CUDA.
    """
    present = {k: v for k, v in arrays.items() if v is not None}
    gpu = [k for k, v in present.items() if is_gpu_array(v)]
    if not gpu:
        return False
    cpu = [k for k in present if k not in gpu]
    if cpu:
        raise ValueError(f"{op}: expected all arrays on one device, got {gpu[0]} as {_device_words(present[gpu[0]])} "
                         f"and {cpu[0]} as {_device_words(present[cpu[0]])}; move them to the same device "
                         "(e.g. cupy.asarray / tensor.cuda(), or cupy.asnumpy / tensor.cpu())")
    if not _cuda_built():
        raise RuntimeError(f"{op}: {gpu[0]} is a GPU array but this fastconv build has no CUDA backend; reinstall "
                           "it with nvcc available: FASTCONV_CUDA=ON pip install --no-build-isolation fastconv "
                           "(or pass NumPy arrays)")
    if _device_count() == 0:
        raise RuntimeError(f"{op}: {gpu[0]} is a GPU array but the CUDA runtime finds no usable GPU "
                           "(check the driver and CUDA_VISIBLE_DEVICES)")
    return True


@functools.lru_cache(maxsize=None)
def _cuda_built() -> bool:
    return bool(_C.native_build_info()["cuda"])


@functools.lru_cache(maxsize=None)
def _device_count() -> int:
    return int(_C.cuda_device_count())


# --------------------------------------------------------------------------- device arrays


class DeviceArray:
    """A device array as the kernels see it: data pointer, shape, strides in elements, dtype, device.

    Supports the few view operations the shared argument checks use (``a[None]``, ``transpose``).
    """

    __slots__ = ("ptr", "shape", "strides", "dtype", "device")

    def __init__(self, ptr: int, shape: Tuple[int, ...], strides: Tuple[int, ...], dtype: np.dtype, device: int):
        self.ptr = int(ptr)
        self.shape = tuple(int(s) for s in shape)
        self.strides = tuple(int(s) for s in strides)  # elements, not bytes
        self.dtype = np.dtype(dtype)
        self.device = int(device)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, key):
        if key is None:
            return DeviceArray(self.ptr, (1,) + self.shape, (0,) + self.strides, self.dtype, self.device)
        raise TypeError("DeviceArray supports only a[None]")

    def transpose(self, *axes: int) -> "DeviceArray":
        return DeviceArray(self.ptr, tuple(self.shape[a] for a in axes), tuple(self.strides[a] for a in axes),
                           self.dtype, self.device)

    def arg(self) -> Tuple[int, Tuple[int, ...], Tuple[int, ...]]:
        """(pointer, shape, strides) as the _C.cuda_* bindings take them."""
        return (self.ptr, self.shape, self.strides)

    def arg1(self) -> Tuple[int, int, int]:
        """(pointer, length, stride) of a 1-D array."""
        return (self.ptr, self.shape[0], self.strides[0])

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, strides={self.strides}, dtype={self.dtype}, device={self.device})"


# --------------------------------------------------------------------------- array libraries


class _CupyLibrary:
    name = "cupy"

    def __init__(self):
        import cupy

        self.cp = cupy

    def adopt(self, obj: Any) -> Any:
        if isinstance(obj, self.cp.ndarray):
            return obj
        if hasattr(obj, "__cuda_array_interface__"):
            return self.cp.asarray(obj)  # zero-copy view
        return self.cp.from_dlpack(obj)

    def describe(self, a: Any) -> Tuple[int, Tuple[int, ...], Tuple[int, ...], np.dtype, int]:
        return a.data.ptr, a.shape, a.strides, np.dtype(a.dtype), int(a.device.id)  # byte strides

    def contiguous(self, a: Any) -> Any:
        with self.cp.cuda.Device(a.device.id):
            return self.cp.array(a, copy=True, order="C")

    def empty(self, shape: Tuple[int, ...], dtype: np.dtype, device: int) -> Any:
        with self.cp.cuda.Device(device):
            return self.cp.empty(shape, dtype=dtype)

    def stream(self, device: int) -> int:
        with self.cp.cuda.Device(device):
            return int(self.cp.cuda.get_current_stream().ptr)

    def use_device(self, device: int):
        return self.cp.cuda.Device(device)


class _TorchLibrary:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch
        self._dtypes = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64,
                        torch.float16: np.float16, torch.int32: np.int32}

    def adopt(self, obj: Any) -> Any:
        if isinstance(obj, self.torch.Tensor):
            t = obj.detach()
        elif hasattr(obj, "__cuda_array_interface__"):
            t = self.torch.as_tensor(obj, device="cuda")  # zero-copy view
        else:
            t = self.torch.from_dlpack(obj)
        if t.is_conj() or t.is_neg():
            t = t.resolve_conj().resolve_neg()
        return t

    def describe(self, t: Any) -> Tuple[int, Tuple[int, ...], Tuple[int, ...], Any, int]:
        dtype = self._dtypes.get(t.dtype, None)
        item = t.element_size()
        strides = tuple(s * item for s in t.stride())  # bytes, as CuPy's
        return t.data_ptr(), tuple(t.shape), strides, (np.dtype(dtype) if dtype else t.dtype), t.device.index

    def contiguous(self, t: Any) -> Any:
        return t.clone(memory_format=self.torch.contiguous_format)

    def empty(self, shape: Tuple[int, ...], dtype: np.dtype, device: int) -> Any:
        tdtype = {np.dtype(np.float32): self.torch.float32, np.dtype(np.int64): self.torch.int64}[np.dtype(dtype)]
        return self.torch.empty(shape, dtype=tdtype, device=self.torch.device("cuda", device))

    def stream(self, device: int) -> int:
        return int(self.torch.cuda.current_stream(device).cuda_stream)

    def use_device(self, device: int):
        return self.torch.cuda.device(device)


_LIBRARIES: Dict[str, Any] = {}

# Tests set this (fastconv.testing.gpu.poisoned_outputs) so that every new GPU output starts as NaN
# (int64: a huge negative number) and an element a kernel fails to write shows.
_poison_outputs = False


def _library(name: str) -> Any:
    lib = _LIBRARIES.get(name)
    if lib is None:
        lib = _CupyLibrary() if name == "cupy" else _TorchLibrary()
        _LIBRARIES[name] = lib
    return lib


def _library_for(obj: Any, op: str, name: str) -> Any:
    if _is_torch(obj):
        return _library("torch")
    if _is_cupy(obj):
        return _library("cupy")
    for candidate in ("cupy", "torch"):  # a foreign producer: whichever library is installed
        if candidate in sys.modules or _importable(candidate):
            return _library(candidate)
    raise RuntimeError(f"{op}: {name} is a GPU array ({type(obj).__name__}); fastconv allocates GPU results with "
                       "CuPy or PyTorch, and neither is installed (pip install cupy-cuda12x, or torch)")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _interface_stream(obj: Any) -> Optional[int]:
    """The producer stream a ``__cuda_array_interface__`` v3 asks consumers to order after."""
    if _is_torch(obj) or _is_cupy(obj):
        return None  # their own current streams are used
    cai = getattr(obj, "__cuda_array_interface__", None)
    if not isinstance(cai, dict):
        return None
    stream = cai.get("stream")
    return int(stream) if stream else None


# --------------------------------------------------------------------------- one GPU call


class GpuCall:
    """The GPU arrays of one op call: their device, the library results are allocated with, the launch
    stream. ``intake`` is the GPU counterpart of ``_arrays.to_numpy``."""

    def __init__(self, op: str):
        self.op = op
        self.library: Any = None
        self.device: Optional[int] = None
        self._first_name = ""
        self._waits: List[int] = []
        self._keep: List[Any] = []  # adopted views and copies, alive until the kernels are queued

    def intake(self, obj: Any, name: str, op: str, *, optional: bool = False,
               dtype: np.dtype = _FLOAT32) -> Tuple[Optional[DeviceArray], Any]:
        """A GPU array argument as a DeviceArray (checked dtype and device) and an identity wrapper."""
        if obj is None:
            if optional:
                return None, _identity
            raise TypeError(f"{op}: {name} must be an array, got None")
        if not is_gpu_array(obj):
            raise ValueError(f"{op}: expected {name} on the GPU like the other arrays, got {_device_words(obj)}")
        lib = _library_for(obj, op, name)
        stream = _interface_stream(obj)
        native = lib.adopt(obj)
        ptr, shape, byte_strides, got, device = lib.describe(native)
        if got != dtype:
            raise TypeError(self._dtype_message(name, got, dtype))
        item = dtype.itemsize
        if ptr % item or any(s % item for s in byte_strides):
            native = lib.contiguous(native)
            ptr, shape, byte_strides, got, device = lib.describe(native)
        if self.device is None:
            self.library, self.device, self._first_name = lib, device, name
        elif device != self.device:
            raise ValueError(f"{op}: expected all arrays on one device, got {self._first_name} on cuda:{self.device} "
                             f"and {name} on cuda:{device}; move them to the same GPU")
        if stream is not None:
            self._waits.append(stream)
        self._keep.append(native)
        return DeviceArray(ptr, shape, tuple(s // item for s in byte_strides), dtype, device), _identity

    def _dtype_message(self, name: str, got: Any, want: np.dtype) -> str:
        if want == _FLOAT32 and str(got) in ("float64", "torch.float64"):
            return (f"{self.op}: {name} is a float64 GPU array; the CUDA kernels support float32 only for now "
                    "(convert with .astype(cupy.float32) / .float(), or pass NumPy arrays for float64)")
        return f"{self.op}: {name} must be {want} on the GPU, got {got}"

    @contextlib.contextmanager
    def on_device(self) -> Iterator[None]:
        """The call's device made current (allocation and launch), as its library does it."""
        with self.library.use_device(self.device):
            yield

    def stream(self) -> int:
        """The launch stream: the library's current stream, ordered after any interface streams."""
        s = self.library.stream(self.device)
        for producer in self._waits:
            _C.cuda_stream_wait(s, producer, self.device)
        self._waits.clear()
        return s

    def empty(self, shape: Tuple[int, ...], dtype: np.dtype = _FLOAT32) -> Tuple[Any, DeviceArray]:
        """A new C-contiguous array from the call's library and its DeviceArray."""
        dtype = np.dtype(dtype)
        try:
            native = self.library.empty(tuple(shape), dtype, self.device)
            if _poison_outputs:
                native[...] = np.nan if dtype.kind == "f" else -(2**62)
        except Exception as exc:  # the libraries' out-of-memory errors differ
            if "memory" in str(exc).lower() or type(exc).__name__ in ("OutOfMemoryError", "CUDARuntimeError"):
                raise MemoryError(f"{self.op}: cannot allocate a GPU array of shape {tuple(shape)} and dtype "
                                  f"{dtype}: {exc}") from None
            raise
        ptr, shp, byte_strides, _, device = self.library.describe(native)
        return native, DeviceArray(ptr, shp, tuple(s // dtype.itemsize for s in byte_strides), dtype, device)

    def allocate(self, logical_shape: Tuple[int, int, int, int], layout: str, unbatched: bool,
                 dtype: np.dtype = _FLOAT32) -> Tuple[Any, DeviceArray]:
        """A new array stored in `layout` (unbatched: without the N axis) and its logical (N, C, H, W) view."""
        n, c, h, w = logical_shape
        stored = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
        native, dev = self.empty(stored[1:] if unbatched else stored, dtype)
        if unbatched:
            dev = dev[None]
        logical = dev if layout == "NCHW" else dev.transpose(0, 3, 1, 2)
        return native, logical


def _identity(a: Any) -> Any:
    return a
