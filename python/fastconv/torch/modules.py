"""Drop-in ``torch.nn`` modules computed by fastconv.

Each subclasses its torch.nn twin and changes only where the math runs: constructor arguments,
parameters, ``state_dict`` keys, ``reset_parameters``, ``extra_repr`` and ``padding_mode`` handling are
torch's own. Convolutions with ``padding_mode`` 'reflect', 'replicate' or 'circular' pad with
``torch.nn.functional.pad`` (as torch does) and then run an unpadded fastconv convolution; transposed
convolutions accept only 'zeros', as torch's.
"""

from __future__ import annotations

from typing import Dict, Type

import torch
import torch.nn.functional as F

from . import functional as fct


def _conv(d: int, base):
    conv = getattr(fct, f"conv{d}d")

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    return {"_conv_forward": _conv_forward}


def _conv_transpose(d: int, base):
    conv_transpose = getattr(fct, f"conv_transpose{d}d")

    def forward(self, input, output_size=None):
        if self.padding_mode != "zeros":
            raise ValueError(f"Only `zeros` padding mode is supported for {type(self).__name__}")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size, d,
                                              self.dilation)
        return conv_transpose(input, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups,
                              self.dilation)

    return {"forward": forward}


def _max_pool(d: int, base):
    max_pool = getattr(fct, f"max_pool{d}d")

    def forward(self, input):
        return max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode,
                        return_indices=self.return_indices)

    return {"forward": forward}


def _avg_pool(d: int, base):
    avg_pool = getattr(fct, f"avg_pool{d}d")

    def forward(self, input):
        if d == 1:
            return avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                        self.divisor_override)

    return {"forward": forward}


def _adaptive_avg_pool(d: int, base):
    pool = getattr(fct, f"adaptive_avg_pool{d}d")
    return {"forward": lambda self, input: pool(input, self.output_size)}


def _adaptive_max_pool(d: int, base):
    pool = getattr(fct, f"adaptive_max_pool{d}d")
    return {"forward": lambda self, input: pool(input, self.output_size, self.return_indices)}


# torch.nn class name pattern -> (functional op pattern, methods).
_FAMILIES = {
    "Conv{}d": ("conv{}d", _conv),
    "ConvTranspose{}d": ("conv_transpose{}d", _conv_transpose),
    "MaxPool{}d": ("max_pool{}d", _max_pool),
    "AvgPool{}d": ("avg_pool{}d", _avg_pool),
    "AdaptiveAvgPool{}d": ("adaptive_avg_pool{}d", _adaptive_avg_pool),
    "AdaptiveMaxPool{}d": ("adaptive_max_pool{}d", _adaptive_max_pool),
}

#: torch.nn type -> its fastconv twin, for each op this build has.
TWINS: Dict[Type[torch.nn.Module], Type[torch.nn.Module]] = {}

__all__ = []
for _pattern, (_op_pattern, _methods) in _FAMILIES.items():
    for _d in (1, 2, 3):
        _name, _op = _pattern.format(_d), _op_pattern.format(_d)
        if _op not in fct.__all__:
            continue
        _base = getattr(torch.nn, _name)
        _cls = type(_name, (_base,), {
            "__module__": __name__,
            "__qualname__": _name,
            "__doc__": f"``torch.nn.{_name}`` computed by ``torch.ops.fastconv.{_op}`` (same arguments, "
                       "parameters, state_dict and initialisation as torch's).",
            **_methods(_d, _base),
        })
        globals()[_name] = _cls
        TWINS[_base] = _cls
        __all__.append(_name)
del _pattern, _op_pattern, _methods, _d, _name, _op, _base, _cls
