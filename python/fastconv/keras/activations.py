"""Activation names, as Keras spells them: None/'linear', 'relu', 'sigmoid', 'tanh', 'softmax'."""

from __future__ import annotations

from ._ops import ACTIVATIONS

__all__ = ["name"]


def name(activation) -> str:
    """The canonical name of an activation argument; ValueError naming the choices otherwise."""
    if activation is None:
        return "linear"
    if callable(activation) and getattr(activation, "__name__", None) in ACTIVATIONS:
        return activation.__name__
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return activation.lower()
    raise ValueError(f"Unknown activation: {activation!r}; expected None or one of "
                     f"{', '.join(repr(a) for a in ACTIVATIONS)}")
