"""Conv2D: channels-last 2-D convolution, Keras's kernel (kh, kw, in, out) computed as fastconv's (K, R, S, C)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _ops, activations, initializers
from .base import Layer, pair, padding_mode, same_padding, valid_size


class Conv2D(Layer):
    """``Conv2D(filters, kernel_size, strides=(1, 1), padding='valid', activation=None, use_bias=True, ...)``.

    Input (batch, H, W, C) -> output (batch, P, Q, filters). 'same' gives ceil(H / stride) rows, the odd
    padding row at the bottom (and column at the right), as Keras.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        owner = "Conv2D"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{owner}: filters must be a positive int, got {filters!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size", owner)
        self.strides = pair(strides, "strides", owner)
        self.dilation_rate = pair(dilation_rate, "dilation_rate", owner)
        if self.strides != (1, 1) and self.dilation_rate != (1, 1):
            raise ValueError(f"{owner}: strides > 1 together with dilation_rate > 1 is not supported (as Keras), got "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.padding = padding_mode(padding, owner)
        self.activation = activations.name(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel = self.bias = None

    def _geometry(self, h: int, w: int):
        """Output size, fastconv padding (symmetric) and explicit extra input padding per axis."""
        out, sym, extra = [], [], []
        for size, k, s, d in zip((h, w), self.kernel_size, self.strides, self.dilation_rate):
            eff = d * (k - 1) + 1
            if self.padding == "valid":
                if size < eff:
                    raise ValueError(f"Conv2D {self.name!r}: input size {size} is smaller than the kernel ({eff}) "
                                     f"with padding='valid'; input shape {self.input_shape}")
                out.append(valid_size(size, eff, s))
                sym.append(0)
                extra.append((0, 0))
                continue
            o, lo, hi = same_padding(size, eff, s)
            out.append(o)
            if lo == hi or valid_size(size + 2 * lo, eff, s) == o:
                sym.append(lo)
                extra.append((0, 0))
            else:  # the odd row is read: pad the input explicitly
                sym.append(0)
                extra.append((lo, hi))
        return tuple(out), tuple(sym), tuple(extra)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Conv2D {self.name!r}: expected inputs of shape (batch, height, width, channels), "
                             f"got shape (None, {', '.join(map(str, input_shape))})")
        (p, q), _, _ = self._geometry(input_shape[0], input_shape[1])
        return (p, q, self.filters)

    def build(self, input_shape):
        self.input_shape = tuple(input_shape)
        super().build(input_shape)
        _, self._pad, self._extra = self._geometry(input_shape[0], input_shape[1])
        kh, kw = self.kernel_size
        c = input_shape[2]
        # native (K, R, S, C); Keras sees (R, S, C, K)
        self.kernel = self.add_weight("kernel", (self.filters, kh, kw, c), self.kernel_initializer, (1, 2, 3, 0))
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def _padded(self, x):
        if any(self._extra[0] + self._extra[1]):
            return np.pad(x, ((0, 0), self._extra[0], self._extra[1], (0, 0)))
        return x

    def forward(self, x, training):
        x = self._padded(x)
        b = self.bias.native if self.bias is not None else None
        y = _ops.conv2d_act(x, self.kernel.native, b, self.strides, self._pad, self.dilation_rate, self.activation)
        self._saved = (x, y)
        return y

    def backward(self, dy, need_dx=True):
        x, y = self._saved
        dz, db = _ops.bias_act_backward(dy, y, self.activation, self.bias is not None)
        return self.backward_preact(dz, db, need_dx)

    # The model's fused path with a following MaxPooling2D (models.Sequential): max commutes with a
    # per-channel bias and a non-decreasing activation, so the pool takes the convolution's raw output
    # and applies bias and activation to its own, smaller, output (and their gradient in backward).
    def forward_preact(self, x):
        """conv(x) without bias or activation: (batch, P, Q, filters)."""
        x = self._padded(x)
        self._saved = (x, None)
        return _ops.conv2d(x, self.kernel.native, self.strides, self._pad, self.dilation_rate)

    def backward_preact(self, dz, db, need_dx=True):
        """From dL/d(pre-activation) and the bias gradient: writes the weights' grads, returns dL/dx."""
        x, _ = self._saved
        self._saved = None
        dx = _ops.conv2d_backward(dz, x, self.kernel.native, self.kernel.grad, self.strides, self._pad,
                                  self.dilation_rate, need_dx)
        if self.bias is not None:
            self.bias.grad[...] = db
        if dx is not None and any(self._extra[0] + self._extra[1]):
            (t, _), (l, _) = self._extra
            h, w = self.input_shape[0], self.input_shape[1]
            dx = dx[:, t:t + h, l:l + w, :]
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding, dilation_rate=list(self.dilation_rate), activation=self.activation,
                      use_bias=self.use_bias, kernel_initializer=initializers.name_of(self.kernel_initializer),
                      bias_initializer=initializers.name_of(self.bias_initializer))
        return config
