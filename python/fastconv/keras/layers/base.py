"""Layer and Weight: what every layer shares (names, shapes, weights, config for saving)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import initializers

Shape = Tuple[Optional[int], ...]

_NAME_COUNTS: Dict[str, int] = {}


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """Keras's automatic names: conv2d, conv2d_1, conv2d_2, ... per process."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


class Weight:
    """A trainable array, stored in the layout the kernels compute in.

    ``native`` is the contiguous compute-layout array (e.g. a conv kernel as (K, R, S, C)); ``value``
    is the same memory seen in Keras's layout (e.g. (kh, kw, in, out)) through ``to_keras`` axes;
    ``grad`` has the native shape.
    """

    def __init__(self, name: str, native: np.ndarray, to_keras: Optional[Sequence[int]] = None):
        self.name = name
        self.native = native
        self.to_keras = tuple(to_keras) if to_keras is not None else tuple(range(native.ndim))
        self.grad = np.zeros_like(native)

    @property
    def value(self) -> np.ndarray:
        return self.native.transpose(self.to_keras)

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.value.shape

    def assign(self, keras_value) -> None:
        a = np.asarray(keras_value)
        if a.shape != self.shape:
            raise ValueError(f"weight {self.name!r}: expected an array of shape {self.shape}, got {a.shape}")
        self.value[...] = a

    def rebind(self, native: np.ndarray, grad: np.ndarray) -> None:
        """Move the weight (and its gradient) into given memory, e.g. slices of one flat buffer."""
        native[...] = self.native
        self.native, self.grad = native, grad


class Layer:
    """Base of all layers. Subclasses implement build, output_shape, forward, backward, get_config."""

    trainable = True

    def __init__(self, name: Optional[str] = None, dtype=None, input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        self.name = name if name is not None else unique_name(_snake(type(self).__name__))
        self.dtype = np.dtype("float32" if dtype is None else dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{type(self).__name__}: dtype must be 'float32' or 'float64', got {dtype!r}")
        self.input_spec: Optional[Shape] = None if input_shape is None else _shape_arg(input_shape, "input_shape",
                                                                                      type(self).__name__)
        self.weights: List[Weight] = []
        self.built = False
        self.input_shape: Optional[Shape] = None
        self.output_shape: Optional[Shape] = None
        self._saved = None  # what the last forward kept for the backward

    # -- building
    def build(self, input_shape: Shape) -> None:
        """Check the input shape (without batch axis) and create the weights."""
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def add_weight(self, name: str, native_shape, initializer, to_keras=None) -> Weight:
        keras_shape = tuple(native_shape[a] for a in to_keras) if to_keras else tuple(native_shape)
        native = np.empty(native_shape, self.dtype)
        w = Weight(f"{self.name}/{name}", native, to_keras)
        w.value[...] = initializers.get(initializer)(keras_shape, self.dtype)
        self.weights.append(w)
        return w

    def count_params(self) -> int:
        return int(sum(w.native.size for w in self.weights))

    # -- computing
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError(type(self).__name__ + ".forward")

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        """Gradient of the last forward: writes each weight's ``grad`` and returns dL/dx (or None)."""
        raise NotImplementedError(type(self).__name__ + ".backward")

    def __call__(self, x, training: bool = False) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        check_input(self, x.shape)
        return self.forward(x, training)

    # -- weights and config
    def get_weights(self) -> List[np.ndarray]:
        return [np.array(w.value) for w in self.weights]

    def set_weights(self, arrays: Sequence) -> None:
        if len(arrays) != len(self.weights):
            raise ValueError(f"layer {self.name!r}: expected {len(self.weights)} arrays, got {len(arrays)}")
        for w, a in zip(self.weights, arrays):
            w.assign(a)

    def get_config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"name": self.name, "dtype": self.dtype.name}
        if self.input_spec is not None:
            config["input_shape"] = list(self.input_spec)
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _shape_arg(shape, name: str, owner: str) -> Shape:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a tuple of ints, got {shape!r}") from None
    if any(d is not None and d < 1 for d in dims):
        raise ValueError(f"{owner}: {name} must have positive sizes, got {shape!r}")
    return dims


def check_input(layer: Layer, shape: Tuple[int, ...]) -> None:
    """Refuse an input whose shape (batch axis first) differs from what the layer was built for."""
    expected = layer.input_shape
    got = tuple(shape[1:])
    if expected is not None and (len(got) != len(expected)
                                 or any(e is not None and e != g for e, g in zip(expected, got))):
        raise ValueError(f"Input 0 of layer {layer.name!r} ({type(layer).__name__}) is incompatible with the layer: "
                         f"expected shape=(None, {', '.join(str(e) for e in expected)}), "
                         f"found shape={tuple(shape)}")


def pair(value, name: str, owner: str) -> Tuple[int, int]:
    """An int or a pair of positive ints (kernel_size, strides, pool_size)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be an int or a tuple of 2 ints, got {value!r}") from None
    if a < 1 or b < 1:
        raise ValueError(f"{owner}: {name} must be positive, got {value!r}")
    return a, b


def padding_mode(value, owner: str) -> str:
    mode = value.lower() if isinstance(value, str) else value
    if mode not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {value!r}")
    return mode


def same_padding(size: int, kernel: int, stride: int) -> Tuple[int, int, int]:
    """Keras/TensorFlow 'same': output ceil(size / stride), padding split with the odd one at the end.

    Returns (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def valid_size(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1
