"""linear, activations, softmax and losses under torch.ops.fastconv: values against torch, gradcheck
in float64, opcheck, and a training step through all of them."""

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import fastconv.torch as fct  # noqa: E402

ops = torch.ops.fastconv


def _t(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + sum(shape)))


_target = torch.tensor([1, 0, 3, -100, 2])
_probs = torch.softmax(_t(5, 4, seed=1), 1)

# name -> (torch.nn.functional-style arguments, differentiable argument positions, keyword arguments)
CASES = {
    "linear": ((_t(3, 2, 5), _t(4, 5), _t(4)), (0, 1, 2), {}),
    "relu": ((_t(2, 3, 4),), (0,), {}),
    "sigmoid": ((_t(2, 7),), (0,), {}),
    "tanh": ((_t(3, 2, 2),), (0,), {}),
    "softmax": ((_t(2, 5, 3), 1), (0,), {}),
    "log_softmax": ((_t(4, 6), -1), (0,), {}),
    "cross_entropy": ((_t(5, 4), _target), (0,), dict(weight=torch.rand(4, dtype=torch.float64) + 0.5,
                                                         label_smoothing=0.1)),
    "mse_loss": ((_t(3, 4), _t(3, 4, seed=2)), (0, 1), dict(reduction="sum")),
}
# Gradients with respect to class probabilities.
CASES["cross_entropy_probs"] = ((_t(5, 4), _probs), (0, 1), dict(reduction="none"))


def _call(fn, args, kwargs):
    return fn(*args, **kwargs)


def test_every_case_is_registered():
    assert {n for n in CASES if "_probs" not in n} <= set(fct.registered_ops())


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_and_gradcheck(case):
    args, diff, kwargs = CASES[case]
    name = case.replace("_probs", "")
    ours = getattr(fct, name)
    theirs = getattr(F, name) if hasattr(F, name) else getattr(torch, name)
    torch.testing.assert_close(_call(ours, args, kwargs), _call(theirs, args, kwargs), rtol=1e-12, atol=1e-12)

    def f(*ts):
        a = list(args)
        for i, t in zip(diff, ts):
            a[i] = t
        return _call(ours, a, kwargs)

    assert torch.autograd.gradcheck(f, tuple(args[i].clone().requires_grad_() for i in diff))


@pytest.mark.parametrize("case", sorted(CASES))
def test_opcheck(case):
    args, diff, kwargs = CASES[case]
    name = case.replace("_probs", "")
    op = getattr(ops, name)
    seen = []

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, a=(), kw=None):
            if func is op or getattr(func, "_overloadpacket", None) is op:
                seen.append(a)
            return func(*a, **(kw or {}))

    with Record():
        _call(getattr(fct, name), args, kwargs)
    (op_args,) = seen
    op_args = list(op_args)
    for i in diff:
        op_args[i] = op_args[i].clone().requires_grad_()
    torch.library.opcheck(op, tuple(op_args))


def test_class_weights_are_constants_and_inplace_relu_is_refused():
    x = _t(5, 4).requires_grad_()
    w = (torch.rand(4, dtype=torch.float64) + 0.5).requires_grad_()
    loss = fct.cross_entropy(x, _target, w)
    gx, gw = torch.autograd.grad(loss, (x, w), allow_unused=True)
    torch.testing.assert_close(gx, torch.autograd.grad(F.cross_entropy(x, _target, w.detach()), x)[0])
    assert gw is None
    with pytest.raises(ValueError, match="inplace"):
        fct.relu(_t(3), inplace=True)


def test_mlp_training_step_matches_torch():
    torch.manual_seed(0)
    w1, b1, w2, b2 = (_t(16, 8), _t(16), _t(3, 16), _t(3))
    x, target = _t(6, 8), torch.tensor([0, 2, 1, 1, 0, 2])

    def step(fn_lib, lib_linear, params):
        params = [p.clone().requires_grad_() for p in params]
        h = fn_lib.tanh(lib_linear(x, params[0], params[1]))
        logits = lib_linear(fn_lib.relu(h), params[2], params[3])
        loss = fn_lib.cross_entropy(logits, target) + 0.1 * fn_lib.mse_loss(torch.sigmoid(logits),
                                                                                 torch.full_like(logits, 0.5))
        loss.backward()
        return loss, [p.grad for p in params]

    loss, grads = step(fct, fct.linear, (w1, b1, w2, b2))
    ref_loss, ref_grads = step(F, F.linear, (w1, b1, w2, b2))
    torch.testing.assert_close(loss, ref_loss)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
