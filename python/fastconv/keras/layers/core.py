"""Dense, Flatten, Activation, ReLU, Dropout and InputLayer."""

from __future__ import annotations

import numpy as np

from .. import _ops, activations, initializers, utils
from .base import Layer, _shape_arg


class InputLayer(Layer):
    """Declares the input shape (without the batch axis): ``InputLayer(shape=(28, 28, 1))``."""

    def __init__(self, shape=None, batch_size=None, input_shape=None, **kwargs):
        shape = input_shape if shape is None else shape
        if shape is None:
            raise ValueError("InputLayer: shape is required, e.g. InputLayer(shape=(28, 28, 1))")
        super().__init__(input_shape=shape, **kwargs)
        self.batch_size = batch_size

    def forward(self, x, training):
        return x

    def backward(self, dy, need_dx=True):
        return dy if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
        return config


def Input(shape, batch_size=None, name=None, dtype=None) -> InputLayer:
    """The input of a Sequential model: ``Sequential([Input((28, 28, 1)), ...])``."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)


class Dense(Layer):
    """``Dense(units, activation=None, use_bias=True, ...)``: (batch, in) -> (batch, units); kernel (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_dim=None, **kwargs):
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (input_dim,)
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = activations.name(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"Dense {self.name!r}: expected inputs of shape (batch, features), got shape "
                             f"(None, {', '.join(map(str, input_shape))}); add a Flatten layer before it")
        return (self.units,)

    def build(self, input_shape):
        super().build(input_shape)
        # native (units, in): fastconv.linear's weight; Keras sees (in, units)
        self.kernel = self.add_weight("kernel", (self.units, input_shape[0]), self.kernel_initializer, (1, 0))
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)

    def forward(self, x, training):
        b = self.bias.native if self.bias is not None else None
        y = _ops.linear_act(x, self.kernel.native, b, self.activation)
        self._saved = (x, y)
        return y

    def backward(self, dy, need_dx=True):
        x, y = self._saved
        self._saved = None
        dx, db = _ops.linear_act_backward(dy, y, x, self.kernel.native, self.kernel.grad, self.bias is not None,
                                          self.activation, need_dx)
        if self.bias is not None:
            self.bias.grad[...] = db
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      kernel_initializer=initializers.name_of(self.kernel_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer))
        return config


class Flatten(Layer):
    """(batch, ...) -> (batch, prod(...)), in the input's (channels-last: H, W, C) order."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: only data_format='channels_last' is supported, got {data_format!r}")

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training):
        self._saved = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        shape, self._saved = self._saved, None
        return dy.reshape(shape) if need_dx else None


class Activation(Layer):
    """``Activation('relu' | 'sigmoid' | 'tanh' | 'softmax' | 'linear')``; softmax over the last axis."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.name(activation)

    def forward(self, x, training):
        self._saved = x
        return _ops.activation(x, self.activation)

    def backward(self, dy, need_dx=True):
        x, self._saved = self._saved, None
        return _ops.activation_backward(dy, x, self.activation) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config.update(activation=self.activation)
        return config


class ReLU(Activation):
    """max(x, 0) (Keras's ReLU layer without max_value, negative_slope or threshold)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None or negative_slope != 0 or threshold != 0:
            raise ValueError(f"ReLU: only max_value=None, negative_slope=0, threshold=0 are supported, got "
                             f"max_value={max_value!r}, negative_slope={negative_slope!r}, threshold={threshold!r}")
        super().__init__("relu", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class Dropout(Layer):
    """``Dropout(rate, seed=None)``: in training, zeroes a fraction ``rate`` of the inputs and scales the rest
    by 1 / (1 - rate); identity otherwise."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be a float in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported")
        self.rate = float(rate)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def forward(self, x, training):
        if not training or self.rate == 0:
            self._saved = None
            return x
        rng = self._rng if self._rng is not None else utils.rng()
        self._saved = rng.random(x.shape, dtype=np.float32)  # kept where u >= rate
        return _ops.dropout(x, self._saved, self.rate)

    def backward(self, dy, need_dx=True):
        u, self._saved = self._saved, None
        if not need_dx:
            return None
        return dy if u is None else _ops.dropout(dy, u, self.rate)

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
