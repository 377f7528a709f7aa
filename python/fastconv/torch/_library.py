"""Registering fastconv ops with ``torch.library``: one table entry per op gives the forward op, its
``_backward`` op, autograd, fake (shape-only) kernels and the channels-last path.

A forward op ``fastconv::f`` calls ``fastconv.f`` on the tensors themselves (zero-copy on the CPU;
CUDA tensors go to fastconv's GPU path, which says clearly when it is unavailable). Its backward
op ``fastconv::f_backward(grad_output, *forward_args, *saved_outputs, needs_input_grad) -> Tensor[]``
calls ``fastconv.f_backward`` and returns the gradients that were asked for, in argument order
(``Tensor[]`` because a custom op cannot return None).

Memory format: a batched input of a 2-D (3-D) op in torch.channels_last (channels_last_3d) runs
fastconv's NHWC (NDHWC) layout on permuted views of the same memory (weights permuted to
(K, R, S, C/groups) likewise), and every result of the input's rank comes back channels-last;
otherwise results are contiguous. The fake kernels follow the same rule, so compiled graphs see the
strides the real kernels produce.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

import fastconv as fc

NAMESPACE = "fastconv"

# Layout names fastconv takes for a channels-last batched input, by the input's number of dims.
_CHANNELS_LAST_LAYOUT = {4: "NHWC", 5: "NDHWC"}
_TO_CHANNELS_LAST = {4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}
_FROM_CHANNELS_LAST = {4: (0, 3, 1, 2), 5: (0, 4, 1, 2, 3)}
_MEMORY_FORMAT = {4: torch.channels_last, 5: torch.channels_last_3d}


@dataclass
class OpSpec:
    """How to expose one fastconv op ``name`` (and ``name + '_backward'``) to torch.

    schema: the forward's torch schema without the name, e.g.
        ``"(Tensor input, Tensor weight, Tensor? bias, int[2] stride) -> Tensor"``; argument names
        and order are fastconv's, so the op is called as ``fastconv.<name>(*args)``.
    grads: the tensor arguments ``<name>_backward`` returns gradients for, in its order.
    constants: those of ``grads`` it never differentiates (always None: cross_entropy's class weights).
    shape_like: a torch function taking the same arguments whose outputs have the op's output
        shapes (torch.nn.functional's twin), run on fake tensors for shape inference.
    call_kwargs: fixed keyword arguments for the fastconv forward (``return_indices=True``).
    saved_outputs: forward outputs passed to the backward by keyword, as {keyword: output index}.
    spatial: the op's number of spatial dims when a batched channels-last input (2 or 3) may take
        fastconv's channels-last layout, else 0.
    """

    name: str
    schema: str
    grads: Tuple[str, ...]
    shape_like: Callable[..., Any]
    call_kwargs: Dict[str, Any] = field(default_factory=dict)
    saved_outputs: Dict[str, int] = field(default_factory=dict)
    spatial: int = 0
    constants: Tuple[str, ...] = ()

    def __post_init__(self):
        args, self.returns = self.schema.rsplit("->", 1)
        self.args = _parse_args(args)
        self.arg_names = [n for _, n in self.args]
        self.tensor_args = [n for t, n in self.args if t.startswith("Tensor")]
        self.returns = self.returns.strip()
        self.num_outputs = 1 if self.returns == "Tensor" else self.returns.count("Tensor")

    @property
    def backward_schema(self) -> str:
        fwd = ", ".join(f"{t} {n}" for t, n in self.args)
        saved = "".join(f", Tensor {k}" for k in self.saved_outputs)
        return f"(Tensor grad_output, {fwd}{saved}, bool[] needs_input_grad) -> Tensor[]"


def _parse_args(text: str) -> List[Tuple[str, str]]:
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"schema arguments must be parenthesised, got {text!r}")
    out = []
    for item in body[1:-1].split(","):
        typ, name = item.strip().rsplit(" ", 1)
        out.append((typ.strip(), name.strip()))
    return out


# --- memory format ----------------------------------------------------------------------------

def takes_channels_last(spec: OpSpec, x: Optional[torch.Tensor]) -> bool:
    """True when ``x`` (the op's first tensor argument) is a batched channels-last tensor."""
    if x is None or x.dim() != spec.spatial + 2 or x.dim() not in _CHANNELS_LAST_LAYOUT:
        return False
    return x.is_contiguous(memory_format=_MEMORY_FORMAT[x.dim()]) and not x.is_contiguous()


def _dense_strides(shape: Sequence[int], order: Sequence[int]) -> List[int]:
    """Strides of a dense tensor whose dims, innermost first, are ``order`` (torch's rule: sizes of 0
    count as 1)."""
    strides = [0] * len(shape)
    step = 1
    for d in order:
        strides[d] = step
        step *= max(int(shape[d]), 1)
    return strides


def result_strides(shape: Sequence[int], channels_last: bool) -> List[int]:
    nd = len(shape)
    if channels_last and nd in _CHANNELS_LAST_LAYOUT:
        return _dense_strides(shape, [1] + list(range(nd - 1, 1, -1)) + [0])
    return _dense_strides(shape, range(nd - 1, -1, -1))


def settle(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``t`` with exactly the strides the fake kernels promise (a restride of the same memory when
    only the strides of size-1 dims differ; a copy only when fastconv returned another order)."""
    want = result_strides(t.shape, channels_last)
    if list(t.stride()) == want:
        return t
    fmt = _MEMORY_FORMAT[t.dim()] if channels_last and t.dim() in _MEMORY_FORMAT else torch.contiguous_format
    if not t.is_contiguous(memory_format=fmt):
        t = t.contiguous(memory_format=fmt)
    return t.as_strided(t.shape, want)


def fake_result(like: torch.Tensor, shape, dtype, channels_last: bool) -> torch.Tensor:
    return like.new_empty_strided(tuple(shape), result_strides(shape, channels_last), dtype=dtype)


def _to_fastconv(a: Any, channels_last: bool) -> Any:
    if channels_last and isinstance(a, torch.Tensor) and a.dim() in _TO_CHANNELS_LAST:
        return a.permute(_TO_CHANNELS_LAST[a.dim()])
    return a


def _from_fastconv(a: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if channels_last and a.dim() in _FROM_CHANNELS_LAST:
        a = a.permute(_FROM_CHANNELS_LAST[a.dim()])
    return settle(a, channels_last)


def _layout_kwargs(x: torch.Tensor, channels_last: bool) -> Dict[str, str]:
    return {"layout": _CHANNELS_LAST_LAYOUT[x.dim()]} if channels_last else {}


def _as_tensor(a: Any, op: str) -> torch.Tensor:
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"fastconv::{op}: fastconv returned {type(a).__name__}, expected a tensor")
    return a


# --- registration -----------------------------------------------------------------------------

_REGISTERED: Dict[str, OpSpec] = {}


def registered() -> Dict[str, OpSpec]:
    """The registered ops by forward name (``torch.ops.fastconv.<name>``)."""
    return dict(_REGISTERED)


def register(spec: OpSpec) -> None:
    """Register ``fastconv::<name>`` and ``fastconv::<name>_backward`` with autograd and fake kernels."""
    forward_fn = getattr(fc, spec.name)
    backward_fn = getattr(fc, spec.name + "_backward")
    backward_takes_needs = "needs_input_grad" in inspect.signature(backward_fn).parameters
    first_tensor = spec.tensor_args[0]
    first_index = spec.arg_names.index(first_tensor)
    grad_index = [spec.arg_names.index(n) for n in spec.grads]
    constant = [n in spec.constants for n in spec.grads]
    n_fwd = len(spec.args)

    def forward_impl(*args):
        x = args[first_index]
        cl = takes_channels_last(spec, x)
        out = forward_fn(*(_to_fastconv(a, cl) for a in args), **spec.call_kwargs, **_layout_kwargs(x, cl))
        if spec.num_outputs == 1:
            return _from_fastconv(_as_tensor(out, spec.name), cl)
        return tuple(_from_fastconv(_as_tensor(o, spec.name), cl) for o in out)

    def forward_fake(*args):
        x = args[first_index]
        cl = takes_channels_last(spec, x)
        ref = spec.shape_like(*args)
        if spec.num_outputs == 1:
            return fake_result(x, ref.shape, ref.dtype, cl)
        return tuple(fake_result(x, r.shape, r.dtype, cl) for r in ref)

    def wanted(args, needs) -> List[int]:
        if len(needs) != len(spec.grads):
            raise ValueError(f"fastconv::{spec.name}_backward: needs_input_grad must have {len(spec.grads)} "
                             f"entries ({', '.join(spec.grads)}), got {list(needs)}")
        return [k for k, i in enumerate(grad_index) if needs[k] and args[i] is not None and not constant[k]]

    def backward_impl(grad_output, *rest):
        args, saved, needs = rest[:n_fwd], rest[n_fwd:-1], rest[-1]
        x = args[first_index]
        cl = takes_channels_last(spec, x)
        kwargs = {k: _to_fastconv(v, cl) for k, v in zip(spec.saved_outputs, saved)}
        if backward_takes_needs:
            kwargs["needs_input_grad"] = tuple(bool(v) for v in needs)
        kwargs.update(_layout_kwargs(x, cl))
        res = backward_fn(_to_fastconv(grad_output, cl), *(_to_fastconv(a, cl) for a in args), **kwargs)
        res = res if isinstance(res, tuple) else (res,)
        return [_from_fastconv(_as_tensor(res[k], spec.name + "_backward"), cl) for k in wanted(args, needs)]

    def backward_fake(grad_output, *rest):
        args, needs = rest[:n_fwd], rest[-1]
        x = args[first_index]
        cl = takes_channels_last(spec, x)
        return [fake_result(args[grad_index[k]], args[grad_index[k]].shape, args[grad_index[k]].dtype, cl)
                for k in wanted(args, needs)]

    fwd = torch.library.custom_op(f"{NAMESPACE}::{spec.name}", forward_impl, mutates_args=(), schema=spec.schema)
    bwd = torch.library.custom_op(f"{NAMESPACE}::{spec.name}_backward", backward_impl, mutates_args=(),
                                  schema=spec.backward_schema)
    fwd.register_fake(forward_fake)
    bwd.register_fake(backward_fake)
    bwd_op = getattr(torch.ops.fastconv, spec.name + "_backward").default

    def setup_context(ctx, inputs, output):
        outputs = output if isinstance(output, tuple) else (output,)
        tensors = [inputs[i] for i, (t, _) in enumerate(spec.args) if t.startswith("Tensor")]
        ctx.save_for_backward(*tensors, *(outputs[i] for i in spec.saved_outputs.values()))
        ctx.others = [None if t.startswith("Tensor") else inputs[i] for i, (t, _) in enumerate(spec.args)]
        for i in range(1, len(outputs)):
            if outputs[i].is_floating_point():
                continue
            ctx.mark_non_differentiable(outputs[i])

    def backward(ctx, *grads):
        saved = list(ctx.saved_tensors)
        args = list(ctx.others)
        for i, (t, _) in enumerate(spec.args):
            if t.startswith("Tensor"):
                args[i] = saved.pop(0)
        needs = [bool(ctx.needs_input_grad[i]) and not c for i, c in zip(grad_index, constant)]
        result: List[Optional[torch.Tensor]] = [None] * n_fwd
        if not any(needs):
            return tuple(result)
        got = iter(bwd_op(grads[0], *args, *saved, needs))
        for k in wanted(args, needs):
            result[grad_index[k]] = next(got)
        return tuple(result)

    def no_double_backward(ctx, *grads):
        raise RuntimeError(f"fastconv::{spec.name}: double backward (the gradient of {spec.name}_backward, "
                           "e.g. autograd.grad(..., create_graph=True) followed by another backward) is not "
                           f"supported; use torch.nn.functional.{spec.name} for higher-order gradients")

    fwd.register_autograd(backward, setup_context=setup_context)
    bwd.register_autograd(no_double_backward, setup_context=lambda ctx, inputs, output: None)
    _REGISTERED[spec.name] = spec
