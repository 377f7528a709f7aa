"""Keras-style layers: ``from fastconv.keras import layers``."""

from .base import Layer
from .conv import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, ReLU
from .pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D

MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D

__all__ = ["Layer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "Flatten", "Dense",
           "Activation", "ReLU", "Dropout", "InputLayer", "Input", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D"]

_REGISTRY = {cls.__name__: cls for cls in (Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten,
                                           Dense, Activation, ReLU, Dropout, InputLayer)}


def deserialize(entry) -> Layer:
    """A layer from ``{"class_name": ..., "config": {...}}``; only the classes above, never code."""
    name = entry.get("class_name") if isinstance(entry, dict) else None
    if name not in _REGISTRY:
        raise ValueError(f"unknown layer class {name!r} in saved model; known: {', '.join(sorted(_REGISTRY))}")
    config = dict(entry.get("config") or {})
    return _REGISTRY[name].from_config(config)
