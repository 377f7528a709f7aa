"""conv1d and conv3d with their backward ops (checks and dispatch in _convnd)."""

from __future__ import annotations

from typing import Any, Sequence, Tuple

from ._convnd import check_conv, conv_backward, conv_forward


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout: str = "NCW",
           algorithm: str = "auto", out=None):
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.

    Shapes with ``layout="NCW"``: input ``(N, C, W)`` or unbatched ``(C, W)``, weight ``(K, C/groups, S)``,
    bias ``(K,)`` or None, output ``(N, K, Q)``; with ``layout="NWC"``: input ``(N, W, C)``, weight
    ``(K, S, C/groups)``, output ``(N, Q, K)``. ``Q = floor((W + pad_lo + pad_hi - dilation*(S-1) - 1) / stride) + 1``.
    ``padding``: int, ``'valid'`` or ``'same'`` (stride 1; the odd extra pad goes at the end).
    Runs on the 2-D kernels through views with a unit height (no copies).
    """
    prob = check_conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    return conv_forward(prob, out)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                    needs_input_grad: Sequence[bool] = (True, True, True), layout: str = "NCW",
                    algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    """Gradients of :func:`conv1d`: ``(grad_input, grad_weight, grad_bias)`` (``grad_bias`` None without
    bias; entries switched off by ``needs_input_grad`` are None)."""
    prob = check_conv("conv1d_backward", 1, input, weight, bias, stride, padding, dilation, groups, layout,
                      algorithm)
    return conv_backward(prob, grad_output, needs_input_grad, "conv1d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout: str = "NCDHW",
           algorithm: str = "auto", out=None):
    """3-D convolution (cross-correlation), as ``torch.nn.functional.conv3d``.

    Shapes with ``layout="NCDHW"``: input ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``, weight
    ``(K, C/groups, T, R, S)``, bias ``(K,)`` or None, output ``(N, K, Z, P, Q)``; with
    ``layout="NDHWC"``: input ``(N, D, H, W, C)``, weight ``(K, T, R, S, C/groups)``, output
    ``(N, Z, P, Q, K)``. Output extents per axis as conv2d's. ``padding``: int, triple, ``'valid'`` or
    ``'same'`` (stride 1). Runs as 2-D convolutions per depth tap, accumulated in tap order.
    """
    prob = check_conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, layout, algorithm)
    return conv_forward(prob, out)


def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                    needs_input_grad: Sequence[bool] = (True, True, True), layout: str = "NCDHW",
                    algorithm: str = "auto") -> Tuple[Any, Any, Any]:
    """Gradients of :func:`conv3d`: ``(grad_input, grad_weight, grad_bias)`` (``grad_bias`` None without
    bias; entries switched off by ``needs_input_grad`` are None)."""
    prob = check_conv("conv3d_backward", 3, input, weight, bias, stride, padding, dilation, groups, layout,
                      algorithm)
    return conv_backward(prob, grad_output, needs_input_grad, "conv3d")
