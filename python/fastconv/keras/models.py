"""``Sequential``: a stack of layers trained by backpropagation through fastconv's backward kernels.

``Sequential(layers=None, name=None, device='auto')``: ``add``, ``build``, ``compile``, ``fit``,
``evaluate``, ``predict``, ``summary``, ``save`` / ``load_model`` (one portable file, no pickle),
``get_weights`` / ``set_weights``. Keras semantics: channels-last inputs, batch_size 32, shuffling
each epoch, ``validation_split`` taking the last fraction of the data before shuffling.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import _device, callbacks, layers as layers_mod, losses, metrics as metrics_mod, optimizers, utils
from ._progbar import Progbar
from .layers.base import Layer, check_input, unique_name

__all__ = ["Sequential", "load_model"]


def _verbose(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool) and verbose not in (0, 1):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


class Sequential:
    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None, device: str = "auto"):
        self.name = name if name is not None else unique_name("sequential")
        self.device = _device.resolve(device)
        self._layers: List[Layer] = []
        self._input_shape = None
        self.built = False
        self.optimizer = self.loss = None
        self.metrics: List[metrics_mod.Accuracy] = []
        self.compiled = False
        self._params: List[np.ndarray] = []
        self._grads: List[np.ndarray] = []
        self._steps: List[tuple] = []
        self.history: Optional[callbacks.History] = None
        for layer in layers or ():
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> List[Layer]:
        return [layer for layer in self._layers if not isinstance(layer, layers_mod.InputLayer)]

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer from fastconv.keras.layers, got {type(layer).__name__}")
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"Sequential.add: layer {layer.name!r} is already in the model")
        if isinstance(layer, layers_mod.InputLayer) and self._layers:
            raise ValueError("Sequential.add: an InputLayer can only be the first layer")
        if not self._layers and layer.input_spec is not None:
            self._input_shape = layer.input_spec
        elif self._layers and layer.input_spec is not None and self.built:
            if tuple(layer.input_spec) != tuple(self._layers[-1].output_shape):
                raise ValueError(f"Sequential.add: layer {layer.name!r} declares input_shape {layer.input_spec} but "
                                 f"the previous layer outputs {self._layers[-1].output_shape}")
        self._layers.append(layer)
        if self._input_shape is not None:
            self._build_layers(self._input_shape)

    def build(self, input_shape=None) -> None:
        """Build for inputs of ``input_shape`` (batch axis first, e.g. (None, 28, 28, 1))."""
        if input_shape is None:
            if self._input_shape is None:
                raise ValueError("Sequential.build: the input shape is unknown; pass input_shape=(None, ...) or give "
                                 "the first layer input_shape=...")
            input_shape = (None,) + tuple(self._input_shape)
        self._input_shape = tuple(input_shape[1:])
        self._build_layers(self._input_shape)

    def _build_layers(self, input_shape) -> None:
        shape = tuple(input_shape)
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
                self.built = False
            elif tuple(layer.input_shape) != shape:
                raise ValueError(f"layer {layer.name!r} was built for inputs {layer.input_shape}, got {shape}")
            shape = tuple(layer.output_shape)
        if not self.built:
            self._pack()
            self.built = True
        self._steps = self._plan()

    def _pack(self) -> None:
        """All parameters (and gradients) in one flat buffer per dtype, for one fused update per step."""
        by_dtype: Dict[np.dtype, list] = {}
        for layer in self._layers:
            for w in layer.weights:
                by_dtype.setdefault(w.native.dtype, []).append(w)
        self._params, self._grads = [], []
        for dtype, weights in by_dtype.items():
            total = sum(w.native.size for w in weights)
            params = np.empty(total, dtype)
            grads = np.zeros(total, dtype)
            offset = 0
            for w in weights:
                n = w.native.size
                w.rebind(params[offset:offset + n].reshape(w.native.shape), grads[offset:offset + n].reshape(w.native.shape))
                offset += n
            self._params.append(params)
            self._grads.append(grads)
        if self.optimizer is not None:
            self.optimizer._slots.clear()

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        return None if not self.built else (None,) + tuple(self._layers[-1].output_shape)

    @property
    def weights(self):
        return [w for layer in self._layers for w in layer.weights]

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self._layers))

    def get_weights(self) -> List[np.ndarray]:
        return [a for layer in self._layers for a in layer.get_weights()]

    def set_weights(self, arrays: Sequence) -> None:
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(f"set_weights: model {self.name!r} has {len(weights)} weight arrays, got {len(arrays)}")
        for w, a in zip(weights, arrays):
            w.assign(a)

    def _dtype(self) -> np.dtype:
        return self._layers[0].dtype if self._layers else np.dtype(np.float32)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, device: Optional[str] = None, **kwargs) -> None:
        """``compile(optimizer, loss, metrics=['accuracy'])``; optimizer and loss by object or name."""
        unsupported = {k for k, v in kwargs.items() if v is not None and k not in ("run_eagerly", "jit_compile")}
        if unsupported:
            raise TypeError(f"compile: unsupported argument(s) {', '.join(sorted(unsupported))}")
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if isinstance(metrics, (str, metrics_mod.Accuracy)):
            metrics = [metrics]
        self.metrics = [metrics_mod.get(m) for m in (metrics or [])]
        if device is not None:
            self.device = _device.resolve(device)
        self.compiled = True

    # ------------------------------------------------------------------ computing
    def __call__(self, x, training: bool = False) -> np.ndarray:
        x = self._check_x(x, "__call__")
        return self._forward(x, training)

    def _plan(self) -> List[tuple]:
        """The forward's steps: (layer, None), or (pool, conv) for a Conv2D and the MaxPooling2D after it
        computed together (layers/pooling.py says why that is exact)."""
        plan, i, layers = [], 0, self._layers
        while i < len(layers):
            if (i + 1 < len(layers) and isinstance(layers[i + 1], layers_mod.MaxPooling2D)
                    and layers[i + 1].fuses_with(layers[i])):
                plan.append((layers[i + 1], layers[i]))
                i += 2
            else:
                plan.append((layers[i], None))
                i += 1
        return plan

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        for layer, conv in self._steps:
            x = layer.forward(x, training) if conv is None else layer.forward_fused(x, conv, training)
        return x

    def _backward(self, dy: np.ndarray, need_input_grad: bool = False) -> Optional[np.ndarray]:
        """Writes every weight's grad from dL/d(output); returns dL/dx when need_input_grad."""
        steps = self._steps
        first = 0 if need_input_grad else next(
            (i for i, (layer, conv) in enumerate(steps) if conv is not None or layer.weights), len(steps))
        for i in range(len(steps) - 1, first - 1, -1):
            layer, conv = steps[i]
            if conv is None:
                dy = layer.backward(dy, need_dx=i > first or need_input_grad)
            else:
                dy = layer.backward_fused(dy, conv, need_dx=i > first or need_input_grad)
        for layer, _ in steps[:first]:
            layer._saved = None
        return dy if need_input_grad else None

    def _check_x(self, x, where: str) -> np.ndarray:
        if not self._layers:
            raise ValueError(f"{where}: the model has no layers")
        a = np.asarray(x)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{where}: x must be a numeric array, got dtype {a.dtype}")
        a = a.astype(self._dtype(), copy=False)
        if not self.built:
            if a.ndim < 2:
                raise ValueError(f"{where}: x must have a batch axis, got shape {a.shape}")
            self.build((None,) + a.shape[1:])
        expected = self._input_shape
        if a.ndim != len(expected) + 1 or tuple(a.shape[1:]) != tuple(expected):
            hint = " (channels-last: (batch, height, width, channels))" if len(expected) == 3 else ""
            raise ValueError(f"{where}: expected x of shape (batch, {', '.join(map(str, expected))}){hint} for model "
                             f"{self.name!r}, got shape {a.shape}")
        check_input(self._layers[0], a.shape)
        return a

    def _check_xy(self, x, y, where: str):
        x = self._check_x(x, where)
        if y is None:
            raise ValueError(f"{where}: y (the targets) is required")
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{where}: x and y must have the same number of samples, got x {x.shape} and "
                             f"y {y.shape}")
        y = self.loss.prepare_targets(y, (x.shape[0],) + tuple(self._layers[-1].output_shape))
        return x, y

    def _require_compiled(self, where: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{where}: you must call compile() before {where}()")

    def _warn_softmax_logits(self) -> None:
        last = self._layers[-1] if self._layers else None
        if (getattr(self.loss, "from_logits", False) and getattr(last, "activation", None) == "softmax"
                and self.loss.keras_fn_name):
            warnings.warn(f"`{self.loss.keras_fn_name}` received `from_logits=True`, but the `output` argument was "
                          f"produced by a Softmax activation and thus does not represent logits. Was this intended?",
                          UserWarning, stacklevel=3)

    def _batches(self, n: int, batch_size: int, order: Optional[np.ndarray] = None):
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            yield (slice(start, stop) if order is None else order[start:stop])

    def _logs(self, loss_sum: float, count: int) -> Dict[str, float]:
        logs = {m.name: m.result() for m in self.metrics}
        logs["loss"] = loss_sum / count if count else float("nan")
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, **kwargs) -> "callbacks_mod.History":
        """Train for ``epochs`` passes over (x, y); returns a History (also ``model.history``)."""
        self._require_compiled("fit")
        if callbacks:
            raise TypeError("fit: callbacks are not supported; fit returns a History")
        unsupported = {k for k, v in kwargs.items() if v is not None}
        if unsupported:
            raise TypeError(f"fit: unsupported argument(s) {', '.join(sorted(unsupported))}")
        verbose = _verbose(verbose)
        batch_size = _batch_size(batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be a float in [0, 1), got {validation_split!r}")
        x, y = self._check_xy(x, y, "fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            val = self._check_xy(validation_data[0], validation_data[1], "fit (validation_data)")
        elif validation_split:
            split_at = int(np.floor(x.shape[0] * (1.0 - validation_split)))
            if split_at == 0 or split_at == x.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or no validation "
                                 f"samples out of {x.shape[0]}")
            x, y, val = x[:split_at], y[:split_at], (x[split_at:], y[split_at:])
        if x.shape[0] == 0:
            raise ValueError("fit: x has no samples")
        self._warn_softmax_logits()
        for m in self.metrics:
            m.resolve(y.shape, (x.shape[0],) + tuple(self._layers[-1].output_shape))

        history = callbacks_mod.History()
        history.model = self
        history.params = {"verbose": verbose, "epochs": epochs, "steps": -(-x.shape[0] // batch_size)}
        self.history = history
        steps = history.params["steps"]
        rng = utils.rng()
        for epoch in range(int(initial_epoch), int(epochs)):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout, flush=True)
            bar = Progbar(steps, verbose)
            for m in self.metrics:
                m.reset()
            loss_sum, count = 0.0, 0
            order = rng.permutation(x.shape[0]) if shuffle else None
            for step, idx in enumerate(self._batches(x.shape[0], batch_size, order), 1):
                xb, yb = x[idx], y[idx]
                y_pred = self._forward(xb, training=True)
                loss, dy = self.loss.compute(yb, y_pred, need_grad=True)
                self._backward(dy)
                self.optimizer.apply(self._params, self._grads)
                loss_sum += loss * xb.shape[0]
                count += xb.shape[0]
                for m in self.metrics:
                    m.update(yb, y_pred)
                bar.update(step, self._logs(loss_sum, count))
            logs = self._logs(loss_sum, count)
            if val is not None:
                val_logs = self._evaluate_arrays(val[0], val[1], batch_size)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            bar.update(steps, logs, finalize=True)
            history.on_epoch_end(epoch, logs)
            history.epoch_seconds.append(time.perf_counter() - bar.start)
        return history

    def _evaluate_arrays(self, x, y, batch_size: int, bar: Optional[Progbar] = None) -> Dict[str, float]:
        for m in self.metrics:
            m.resolve(y.shape, (x.shape[0],) + tuple(self._layers[-1].output_shape))
            m.reset()
        loss_sum, count = 0.0, 0
        for step, idx in enumerate(self._batches(x.shape[0], batch_size), 1):
            y_pred = self._forward(x[idx], training=False)
            loss, _ = self.loss.compute(y[idx], y_pred, need_grad=False)
            loss_sum += loss * y_pred.shape[0]
            count += y_pred.shape[0]
            for m in self.metrics:
                m.update(y[idx], y_pred)
            if bar is not None:
                bar.update(step, self._logs(loss_sum, count))
        return self._logs(loss_sum, count)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Loss and metrics over (x, y): a float (no metrics), [loss, *metrics], or a dict."""
        self._require_compiled("evaluate")
        unsupported = {k for k, v in kwargs.items() if v is not None}
        if unsupported:
            raise TypeError(f"evaluate: unsupported argument(s) {', '.join(sorted(unsupported))}")
        verbose = _verbose(verbose)
        batch_size = _batch_size(batch_size)
        x, y = self._check_xy(x, y, "evaluate")
        self._warn_softmax_logits()
        steps = -(-x.shape[0] // batch_size)
        bar = Progbar(steps, verbose)
        logs = self._evaluate_arrays(x, y, batch_size, bar)
        bar.update(steps, logs, finalize=True)
        if return_dict:
            return logs
        if not self.metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[m.name] for m in self.metrics]

    def predict(self, x, batch_size=None, verbose="auto") -> np.ndarray:
        """The model's outputs for x, batch by batch (inference: dropout off)."""
        verbose = _verbose(verbose)
        batch_size = _batch_size(batch_size)
        x = self._check_x(x, "predict")
        out = np.empty((x.shape[0],) + tuple(self._layers[-1].output_shape), self._dtype())
        steps = -(-x.shape[0] // batch_size)
        bar = Progbar(steps, verbose)
        for step, idx in enumerate(self._batches(x.shape[0], batch_size), 1):
            out[idx] = self._forward(x[idx], training=False)
            bar.update(step, {})
        bar.update(steps, {}, finalize=True)
        for layer in self._layers:
            layer._saved = None
        return out

    # ------------------------------------------------------------------ summary and saving
    def summary(self, print_fn=None) -> None:
        """A table of layers, output shapes and parameter counts, as Keras prints it."""
        from ._summary import summary_lines

        emit = print_fn or print
        for line in summary_lines(self):
            emit(line)

    def save(self, filepath) -> None:
        """Write the model (architecture, weights, compile settings and optimizer state) to one file.

        The file is a NumPy .npz archive: a JSON config and plain arrays; loading never runs code."""
        from . import saving

        saving.save_model(self, filepath)

    def get_config(self) -> dict:
        return {"name": self.name, "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                                              for layer in self._layers],
                "build_input_shape": None if self._input_shape is None else [None] + list(self._input_shape)}

    def __repr__(self) -> str:
        return f"<Sequential name={self.name}, built={self.built}>"


callbacks_mod = callbacks


def load_model(filepath, compile: bool = True) -> Sequential:
    """Load a model written by ``Sequential.save``."""
    from . import saving

    return saving.load_model(filepath, compile=compile)
