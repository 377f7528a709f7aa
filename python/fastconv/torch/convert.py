"""``convert(model)``: swap fastconv modules into an existing torch model, in place."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple, Type

import torch

import fastconv as fc

from .modules import TWINS

_FLOAT_DTYPES = (torch.float32, torch.float64)


def _parameters_reason(m: torch.nn.Module) -> Optional[str]:
    """Why fastconv cannot run this module's parameters, or None."""
    for name, p in m.named_parameters(recurse=False):
        if p.dtype not in _FLOAT_DTYPES:
            return f"{name} has dtype {p.dtype}; fastconv computes in float32 and float64"
        if p.device.type == "cuda" and not fc.cuda_available():
            return f"{name} is on {p.device} and this fastconv build or machine has no usable GPU"
        if p.device.type not in ("cpu", "cuda"):
            return f"{name} is on {p.device}; fastconv runs on CPU and CUDA devices"
    return None


# torch.nn type -> (fastconv type, check returning a reason to skip or None).
REPLACEMENTS: Dict[Type[torch.nn.Module], Tuple[Type[torch.nn.Module], Callable[[torch.nn.Module], Optional[str]]]] = {
    base: (twin, _parameters_reason) for base, twin in TWINS.items()
}


class ConvertReport(list):
    """The replaced modules as ``(name, old type, new type)`` tuples; ``skipped`` lists the modules of
    a convertible kind left alone as ``(name, type, reason)``."""

    def __init__(self):
        super().__init__()
        self.skipped: List[Tuple[str, type, str]] = []

    def __repr__(self) -> str:
        return f"ConvertReport(replaced={list(self)!r}, skipped={self.skipped!r})"


def _kind(m: torch.nn.Module) -> Optional[Type[torch.nn.Module]]:
    """The torch.nn type in REPLACEMENTS that ``m`` is an instance of, if any."""
    for base in REPLACEMENTS:
        if isinstance(m, base):
            return base
    return None


def _replacement(old: torch.nn.Module, cls: Type[torch.nn.Module]) -> torch.nn.Module:
    """A ``cls`` module with ``old``'s state: the same Parameter and buffer objects, hooks and flags."""
    new = cls.__new__(cls)
    new.__dict__.update(old.__dict__)
    for attr in ("_parameters", "_buffers", "_modules"):
        new.__dict__[attr] = type(old.__dict__[attr])(old.__dict__[attr])
    return new


def convert(model: torch.nn.Module) -> ConvertReport:
    """Replace the torch.nn modules fastconv has twins for (``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``,
    ``MaxPool``, ``AvgPool``, ``AdaptiveAvgPool`` and ``AdaptiveMaxPool`` 1d/2d/3d, as this build has
    them) inside ``model`` by their ``fastconv.torch`` twins, recursively and in place.

    The new modules share the old ones' Parameter objects (an optimizer built before the call keeps
    updating the weights the model uses), buffers, hooks and training flag; a module shared by several
    parents is replaced by one new module everywhere. Only modules of exactly those torch types are
    replaced: subclasses (which may change ``forward``), modules whose parameters fastconv cannot run
    (dtype, device) and ``model`` itself (it has no parent to be replaced in) are left alone and listed
    in the report's ``skipped`` with the reason. Returns the report (a list of ``(name, old type,
    new type)``).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"convert: model must be a torch.nn.Module, got {type(model).__name__}")
    report = ConvertReport()
    done: Dict[int, Optional[torch.nn.Module]] = {}
    for parent_name, parent in list(model.named_modules(remove_duplicate=False)):
        if parent_name == "" and _kind(parent) is not None:
            report.skipped.append(("", type(parent), "the model itself: convert replaces submodules; construct "
                                                     "the fastconv.torch module directly instead"))
        for child_name, child in list(parent._modules.items()):
            if child is None:
                continue
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if id(child) in done:
                if done[id(child)] is not None:
                    parent._modules[child_name] = done[id(child)]
                continue
            done[id(child)] = None
            kind = _kind(child)
            if kind is None:
                continue
            cls, check = REPLACEMENTS[kind]
            if type(child) is not kind:
                reason = ("already a fastconv module" if isinstance(child, cls) else
                          f"a subclass of torch.nn.{kind.__name__} ({type(child).__qualname__}), which may "
                          "change its forward")
                report.skipped.append((name, type(child), reason))
                continue
            reason = check(child)
            if reason is not None:
                report.skipped.append((name, type(child), reason))
                continue
            new = _replacement(child, cls)
            done[id(child)] = new
            parent._modules[child_name] = new
            report.append((name, type(child), cls))
    return report
