"""Gradient checks by central finite differences in float64.

``numerical_grads(f, inputs, grad_output)`` estimates d<f(inputs), grad_output>/d inputs[i] by
perturbing one element at a time by +-eps (the inputs are modified in place and restored, so ``f``
may close over them, e.g. a layer's weights). ``gradcheck(f, inputs, analytic, grad_output)`` compares
that estimate with analytic gradients and raises AssertionError naming the worst element.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np

__all__ = ["numerical_grads", "gradcheck"]


def _as_float64(inputs: Sequence[np.ndarray]) -> None:
    for i, a in enumerate(inputs):
        if not isinstance(a, np.ndarray) or a.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} must be a float64 NumPy array (finite differences need float64), "
                            f"got {getattr(a, 'dtype', type(a).__name__)}")
        if not a.flags.writeable:
            raise ValueError(f"gradcheck: input {i} must be writeable (it is perturbed in place and restored)")


def numerical_grads(f: Callable[[], np.ndarray], inputs: Sequence[np.ndarray], grad_output: Optional[np.ndarray],
                    eps: float = 1e-6) -> List[np.ndarray]:
    """Central differences of <f(), grad_output> (or of f() when it is a scalar and grad_output is None)
    with respect to each array in ``inputs``; ``f`` takes no arguments and reads the inputs."""
    _as_float64(inputs)

    def objective() -> float:
        y = np.asarray(f(), dtype=np.float64)
        return float(y) if grad_output is None else float(np.vdot(y, grad_output))

    grads = []
    for a in inputs:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            plus = objective()
            a[idx] = old - eps
            minus = objective()
            a[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(f: Callable[[], np.ndarray], inputs: Sequence[np.ndarray], analytic: Sequence[Optional[np.ndarray]],
              grad_output: Optional[np.ndarray] = None, *, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-4) -> bool:
    """Check analytic gradients against central differences in float64.

    ``f()`` computes the output from ``inputs`` (float64 arrays it reads, perturbed in place);
    ``analytic[i]`` is the claimed d<f(), grad_output>/d inputs[i] (None skips that input). Passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|`` everywhere (with atol scaled by the largest
    |numeric|, at least 1); returns True, else raises AssertionError.
    """
    if len(analytic) != len(inputs):
        raise ValueError(f"gradcheck: got {len(inputs)} inputs but {len(analytic)} analytic gradients")
    numeric = numerical_grads(f, inputs, grad_output, eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        if a is None:
            continue
        a = np.asarray(a, dtype=np.float64)
        if a.shape != n.shape:
            raise AssertionError(f"gradcheck: gradient {i} has shape {a.shape}, expected {n.shape}")
        scale = max(1.0, float(np.max(np.abs(n))) if n.size else 1.0)
        err = np.abs(a - n)
        bound = atol * scale + rtol * np.abs(n)
        bad = ~(err <= bound)
        if np.any(bad):
            j = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), err.shape)
            raise AssertionError(f"gradcheck: gradient {i}: {int(bad.sum())} of {err.size} elements differ from "
                                 f"finite differences; worst at {j}: analytic {a[j]!r}, numeric {n[j]!r}")
    return True
