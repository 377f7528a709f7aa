"""MNIST from files you have (nothing is downloaded).

``load_data(path=None)`` returns ``((x_train, y_train), (x_test, y_test))`` as Keras does: uint8 images
(60000, 28, 28) and (10000, 28, 28), uint8 labels. ``path`` is Keras's ``mnist.npz`` (arrays x_train,
y_train, x_test, y_test), or a directory holding it or the four IDX files
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each optionally ``.gz``). Default: ``~/.keras/datasets/mnist.npz``.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["load_data"]

_IDX = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"mnist.load_data: {path!r} is not an unsigned-byte IDX file")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise ValueError(f"mnist.load_data: {path!r} is truncated or has extra bytes (dims {dims})")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def _find(directory: str, stem: str):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    return None


def load_data(path=None):
    if path is None:
        path = os.path.join(os.path.expanduser("~"), ".keras", "datasets", "mnist.npz")
    path = os.fspath(path)
    if os.path.isdir(path):
        npz = os.path.join(path, "mnist.npz")
        found = {k: _find(path, stem) for k, stem in _IDX.items()}
        if all(found.values()):
            arrays = {k: _read_idx(p) for k, p in found.items()}
        elif os.path.isfile(npz):
            return load_data(npz)
        else:
            missing = ", ".join(_IDX[k] + "[.gz]" for k, p in found.items() if p is None)
            raise FileNotFoundError(f"mnist.load_data: {path!r} has neither mnist.npz nor the IDX files (missing: "
                                    f"{missing}); fastconv does not download data")
    elif os.path.isfile(path):
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _IDX if k not in f.files]
            if missing:
                raise ValueError(f"mnist.load_data: {path!r} lacks the arrays {', '.join(missing)}")
            arrays = {k: f[k] for k in _IDX}
    else:
        raise FileNotFoundError(f"mnist.load_data: no file or directory {path!r}; pass the path of Keras's "
                                f"mnist.npz or of a directory with the four MNIST IDX files (fastconv does not "
                                f"download data)")
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"mnist.load_data: inconsistent {split} arrays: images {x.shape}, labels {y.shape}")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
