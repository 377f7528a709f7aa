"""Large output arrays recycled from one call to the next.

An op's output of a few MB, allocated fresh on every call, comes from the operating system as
untouched (or huge, zero-filled) pages, and the kernel's first write to each page faults: for a
0.3 ms convolution with a 5.5 MB output that can cost more than the convolution itself. This pool
keeps the byte buffers of large outputs and hands a buffer out again once nothing refers to it.

Whether anything does is exact: every array made from a pooled buffer, every view of such an array,
and every exporter built on one (memoryview, DLPack, torch.from_numpy) holds a reference that ends at
the byte buffer, NumPy's ``base``. So the buffer's reference count says whether any array a user
kept is still alive; reuse can never overwrite data that someone can still read.
"""

from __future__ import annotations

import sys
import threading
from typing import Dict, List

import numpy as np

# Below this the allocator's own free lists serve the request without page faults.
MIN_BYTES = 256 * 1024
# The pool grows no further than this (free buffers of other sizes are dropped first).
MAX_BYTES = 256 * 1024 * 1024

_lock = threading.Lock()
_buffers: Dict[int, List[np.ndarray]] = {}
_pooled_bytes = 0

# References to a buffer that no array uses, while a loop looks at it: its list's slot, the loop
# variable and sys.getrefcount's argument.
_FREE_REFCOUNT = 3


def _drop_free_buffers() -> None:
    global _pooled_bytes
    for size in list(_buffers):
        kept = []
        for buf in _buffers[size]:
            if sys.getrefcount(buf) > _FREE_REFCOUNT:
                kept.append(buf)
            else:
                _pooled_bytes -= buf.nbytes
        if kept:
            _buffers[size] = kept
        else:
            del _buffers[size]


def take(size: int) -> np.ndarray:
    """A uint8 buffer of `size` bytes that no array uses: a pooled one or a new one (pooled if it fits)."""
    global _pooled_bytes
    with _lock:
        buffers = _buffers.get(size)
        if buffers:
            for buf in buffers:
                if sys.getrefcount(buf) == _FREE_REFCOUNT:
                    return buf
        if _pooled_bytes + size > MAX_BYTES:
            _drop_free_buffers()
            if _pooled_bytes + size > MAX_BYTES:
                return np.empty(size, np.uint8)
        buf = np.empty(size, np.uint8)
        _buffers.setdefault(size, []).append(buf)
        _pooled_bytes += size
        return buf


def pooled_bytes() -> int:
    """Bytes the pool holds, in use or free."""
    return _pooled_bytes


def clear() -> None:
    """Forget every buffer; arrays still in use keep theirs alive."""
    global _pooled_bytes
    with _lock:
        _buffers.clear()
        _pooled_bytes = 0
