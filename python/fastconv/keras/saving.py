"""One-file model format: a NumPy .npz archive holding a JSON config and plain arrays.

Entries: ``config`` (UTF-8 JSON as uint8: format, version, the layers' configs, the input shape, the
compile settings), ``weight_NNNN`` (each weight in Keras's layout, in ``model.weights`` order) and
``optimizer_NNNN`` (the optimizer's moment buffers). It is read with ``allow_pickle=False`` and layers
are made only from the known classes, so loading a file never runs code from it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import numpy as np

from . import layers as layers_mod, losses, metrics as metrics_mod, optimizers

FORMAT = "fastconv.keras"
VERSION = 1


def save_model(model, filepath) -> None:
    config: Dict[str, Any] = {"format": FORMAT, "version": VERSION, "class_name": "Sequential",
                              "config": model.get_config()}
    if model.compiled:
        config["compile"] = {"optimizer": optimizers.serialize(model.optimizer),
                             "loss": losses.serialize(model.loss),
                             "metrics": [m.name if not m.kind or m.name == m.kind else m.name for m in model.metrics]}
    arrays = {"config": np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)}
    for i, w in enumerate(model.weights):
        arrays[f"weight_{i:04d}"] = np.ascontiguousarray(w.value)
    if model.compiled:
        for i, slot in enumerate(model.optimizer.variables()):
            arrays[f"optimizer_{i:04d}"] = slot
    path = os.fspath(filepath)
    # a file object: np.savez would append '.npz' to a name without it
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_model(filepath, compile: bool = True):
    from .models import Sequential

    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_model: no file {path!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"load_model: {path!r} is not a model saved by fastconv.keras ({exc})") from None
    with archive:
        if "config" not in archive.files:
            raise ValueError(f"load_model: {path!r} is not a model saved by fastconv.keras (no config entry)")
        config = json.loads(archive["config"].tobytes().decode("utf-8"))
        if config.get("format") != FORMAT or config.get("class_name") != "Sequential":
            raise ValueError(f"load_model: {path!r} is not a Sequential model saved by fastconv.keras")
        if config.get("version", 0) > VERSION:
            raise ValueError(f"load_model: {path!r} has format version {config['version']}; this fastconv reads up "
                             f"to {VERSION}")
        model_config = config["config"]
        model = Sequential(name=model_config.get("name"))
        for entry in model_config.get("layers", []):
            model.add(layers_mod.deserialize(entry))
        if model_config.get("build_input_shape") is not None and not model.built:
            model.build(tuple(model_config["build_input_shape"]))
        weights = [archive[f"weight_{i:04d}"] for i in range(len(model.weights))]
        model.set_weights(weights)
        if compile and "compile" in config:
            c = config["compile"]
            model.compile(optimizer=optimizers.deserialize(c["optimizer"]), loss=losses.deserialize(c["loss"]),
                          metrics=[metrics_mod.get(m) for m in c.get("metrics", [])])
            slots = sorted(k for k in archive.files if k.startswith("optimizer_"))
            if slots:
                _restore_slots(model, [archive[k] for k in slots])
    return model


def _restore_slots(model, arrays) -> None:
    opt = model.optimizer
    per_buffer = opt._slot_count()
    if per_buffer * len(model._params) != len(arrays):
        raise ValueError("load_model: the saved optimizer state does not match the model's parameters")
    for i, params in enumerate(model._params):
        group = arrays[i * per_buffer:(i + 1) * per_buffer]
        if any(a.shape != params.shape or a.dtype != params.dtype for a in group):
            raise ValueError("load_model: the saved optimizer state does not match the model's parameters")
        opt._slots[i] = [np.array(a) for a in group]
