"""MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D on channels-last inputs.

Keras's 'same' pooling (output ceil(H / stride), the odd padding row at the bottom, padded taps
ignored) is torch-style symmetric padding with ceil_mode; with stride 1 and an even pool the windows
start one row earlier than any symmetric padding allows, so one more row of padding is used and the
first output row dropped.
"""

from __future__ import annotations

from .. import _ops
from .base import Layer, pair, padding_mode, same_padding, valid_size


class _Pooling2D(Layer):
    _kind = ""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, got {data_format!r}")
        self.pool_size = pair(pool_size, "pool_size", owner)
        self.strides = self.pool_size if strides is None else pair(strides, "strides", owner)
        self.padding = padding_mode(padding, owner)

    def _geometry(self, h: int, w: int):
        out, pad, crop = [], [], []
        for size, k, s in zip((h, w), self.pool_size, self.strides):
            if self.padding == "valid":
                if size < k:
                    raise ValueError(f"{type(self).__name__} {self.name!r}: input size {size} is smaller than the "
                                     f"pool size {k} with padding='valid'")
                out.append(valid_size(size, k, s))
                pad.append(0)
                crop.append(0)
                continue
            o, lo, _ = same_padding(size, k, s)
            out.append(o)
            if s == 1 and k % 2 == 0:
                pad.append(lo + 1)
                crop.append(1)
            else:
                pad.append(lo)
                crop.append(0)
        return tuple(out), tuple(pad), tuple(crop)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected inputs of shape (batch, height, width, "
                             f"channels), got shape (None, {', '.join(map(str, input_shape))})")
        (p, q), _, _ = self._geometry(input_shape[0], input_shape[1])
        return (p, q, input_shape[2])

    def build(self, input_shape):
        super().build(input_shape)
        _, self._pad, self._crop = self._geometry(input_shape[0], input_shape[1])
        self._ceil = self.padding == "same"

    def _args(self):
        return self.pool_size, self.strides, self._pad, self._ceil, self._crop

    def forward(self, x, training):
        y, full_shape = getattr(_ops, self._kind)(x, *self._args())
        self._saved = (x, full_shape)
        return y

    def backward(self, dy, need_dx=True):
        x, full_shape = self._saved
        self._saved = None
        if not need_dx:
            return None
        return getattr(_ops, self._kind + "_backward")(dy, x, *self._args(), full_shape)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding)
        return config


class MaxPooling2D(_Pooling2D):
    """``MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid')``; strides default to pool_size."""

    _kind = "max_pool"

    # Fused with the Conv2D before it (models.Sequential): max(act(z + b)) = act(max(z) + b) for a
    # per-channel bias and a non-decreasing act, in floating point too (rounding is monotone), so the
    # pool runs on the convolution's raw output z and bias + activation on the pooled, smaller, tensor.
    # Backward: act'(pre) at a window's maximum is act'(pooled output), so the activation gradient and
    # the bias gradient are taken on the pooled gradient before it is routed back to the maxima. (Where
    # rounding makes z + b equal for two taps with different z, the gradient goes to the larger z, not
    # to the first of the equal values as on the unfused path: both are subgradients of the max.)
    _FUSABLE_ACTIVATIONS = ("relu", "linear")

    def fuses_with(self, conv) -> bool:
        from .conv import Conv2D

        return (isinstance(conv, Conv2D) and conv.activation in self._FUSABLE_ACTIVATIONS and not any(self._crop)
                and conv.dtype == self.dtype)

    def forward_fused(self, x, conv, training):
        """act(maxpool(conv(x)) + b) through ``conv`` (for which ``fuses_with`` holds)."""
        z = conv.forward_preact(x)
        y, full_shape = _ops.max_pool(z, *self._args())
        _ops.bias_act(y, conv.bias.native if conv.bias is not None else None, conv.activation)
        self._saved = (z, full_shape, y)
        return y

    def backward_fused(self, dy, conv, need_dx=True):
        z, full_shape, y = self._saved
        self._saved = None
        dp, db = _ops.bias_act_backward(dy, y, conv.activation, conv.bias is not None)
        dz = _ops.max_pool_backward(dp, z, *self._args(), full_shape)
        return conv.backward_preact(dz, db, need_dx)


class AveragePooling2D(_Pooling2D):
    """``AveragePooling2D(pool_size=(2, 2), strides=None, padding='valid')``; 'same' averages real taps only."""

    _kind = "avg_pool"


class GlobalAveragePooling2D(Layer):
    """(batch, H, W, C) -> (batch, C), or (batch, 1, 1, C) with keepdims=True."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"GlobalAveragePooling2D: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAveragePooling2D {self.name!r}: expected inputs of shape (batch, height, width, "
                             f"channels), got shape (None, {', '.join(map(str, input_shape))})")
        return (1, 1, input_shape[2]) if self.keepdims else (input_shape[2],)

    def _window(self):
        return tuple(self.input_shape[:2]), (1, 1), (0, 0), False, (0, 0)

    def forward(self, x, training):
        y, _ = _ops.avg_pool(x, *self._window())
        self._saved = (x, y.shape)
        return y if self.keepdims else y.reshape(y.shape[0], y.shape[3])

    def backward(self, dy, need_dx=True):
        x, pooled_shape = self._saved
        self._saved = None
        if not need_dx:
            return None
        return _ops.avg_pool_backward(dy.reshape(pooled_shape), x, *self._window(), pooled_shape)

    def get_config(self):
        config = super().get_config()
        config.update(keepdims=self.keepdims)
        return config
