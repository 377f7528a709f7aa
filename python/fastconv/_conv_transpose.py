"""conv_transpose1d/2d/3d with their backward ops (checks and dispatch in _convnd).

Weights are ``(in_channels, out_channels/groups, *taps)`` as torch's, or ``(in_channels, *taps,
out_channels/groups)`` with a channels-last layout. The output extent per axis is
``(in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple

from ._convnd import check_conv_transpose, conv_transpose_backward, conv_transpose_forward

_DOC = """Transposed {d}-D convolution, as ``torch.nn.functional.conv_transpose{d}d``: the adjoint of
    conv{d}d with the same weight (its input gradient), plus bias.

    Shapes with ``layout="{cf}"``: input ``(N, C_in, {sp})`` or unbatched, weight
    ``(C_in, C_out/groups, {taps})``, bias ``(C_out,)`` or None, output ``(N, C_out, {osp})``; with
    ``layout="{cl}"`` channels come last in input, output and weight. ``output_padding`` (smaller than
    stride or dilation) adds to the trailing side of each output extent.
    """


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     layout: str = "NCW", algorithm: str = "auto", out=None):
    prob = check_conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                                dilation, layout, algorithm)
    return conv_transpose_forward(prob, out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     layout: str = "NCHW", algorithm: str = "auto", out=None):
    prob = check_conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                                dilation, layout, algorithm)
    return conv_transpose_forward(prob, out)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     layout: str = "NCDHW", algorithm: str = "auto", out=None):
    prob = check_conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                                dilation, layout, algorithm)
    return conv_transpose_forward(prob, out)


conv_transpose1d.__doc__ = _DOC.format(d=1, cf="NCW", cl="NWC", sp="W", taps="S", osp="Q")
conv_transpose2d.__doc__ = _DOC.format(d=2, cf="NCHW", cl="NHWC", sp="H, W", taps="R, S", osp="P, Q")
conv_transpose3d.__doc__ = _DOC.format(d=3, cf="NCDHW", cl="NDHWC", sp="D, H, W", taps="T, R, S", osp="Z, P, Q")

_BACKWARD_DOC = """Gradients of :func:`conv_transpose{d}d`: ``(grad_input, grad_weight, grad_bias)``.

    Takes ``grad_output`` followed by exactly the arguments the forward was called with. grad_input is
    conv{d}d of grad_output with the same weight; grad_weight is conv{d}d's weight gradient with input
    and output swapped. ``grad_bias`` is None without bias; entries switched off by
    ``needs_input_grad`` are None.
    """


def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, *, needs_input_grad: Sequence[bool] = (True, True, True),
                              layout: str = "NCW", algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    prob = check_conv_transpose("conv_transpose1d_backward", 1, input, weight, bias, stride, padding, output_padding,
                                groups, dilation, layout, algorithm)
    return conv_transpose_backward(prob, grad_output, needs_input_grad, "conv_transpose1d")


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, *, needs_input_grad: Sequence[bool] = (True, True, True),
                              layout: str = "NCHW", algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    prob = check_conv_transpose("conv_transpose2d_backward", 2, input, weight, bias, stride, padding, output_padding,
                                groups, dilation, layout, algorithm)
    return conv_transpose_backward(prob, grad_output, needs_input_grad, "conv_transpose2d")


def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, *, needs_input_grad: Sequence[bool] = (True, True, True),
                              layout: str = "NCDHW", algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    prob = check_conv_transpose("conv_transpose3d_backward", 3, input, weight, bias, stride, padding, output_padding,
                                groups, dilation, layout, algorithm)
    return conv_transpose_backward(prob, grad_output, needs_input_grad, "conv_transpose3d")


conv_transpose1d_backward.__doc__ = _BACKWARD_DOC.format(d=1)
conv_transpose2d_backward.__doc__ = _BACKWARD_DOC.format(d=2)
conv_transpose3d_backward.__doc__ = _BACKWARD_DOC.format(d=3)
