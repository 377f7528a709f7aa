"""Drop-in ``torch.nn`` modules computed by fastconv.

Each subclasses its torch.nn twin and changes only where the math runs: constructor arguments,
parameters, ``state_dict`` keys, ``reset_parameters``, ``extra_repr`` and ``padding_mode`` handling are
torch's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import functional as fct


class Conv2d(torch.nn.Conv2d):
    """``torch.nn.Conv2d`` on ``torch.ops.fastconv.conv2d``.

    ``padding_mode`` 'reflect', 'replicate' and 'circular' pad with ``torch.nn.functional.pad`` (as
    torch.nn.Conv2d does) and then run an unpadded fastconv convolution.
    """

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fct.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fct.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(torch.nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` on ``torch.ops.fastconv.max_pool2d``."""

    def forward(self, input):
        return fct.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                              ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool2d(torch.nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` on ``torch.ops.fastconv.avg_pool2d``."""

    def forward(self, input):
        return fct.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad, self.divisor_override)
