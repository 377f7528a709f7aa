"""A Keras-style training API on fastconv's kernels.

``from fastconv.keras import layers, models, losses`` and the Keras program runs unchanged:
channels-last inputs, Keras's initialisers, optimizer defaults, losses, ``fit``/``evaluate``/``predict``.
"""

from . import callbacks, datasets, initializers, layers, losses, metrics, models, optimizers, utils
from .models import Sequential, load_model

__all__ = ["callbacks", "datasets", "initializers", "layers", "losses", "metrics", "models", "optimizers", "utils",
           "Sequential", "load_model"]
