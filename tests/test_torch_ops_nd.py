"""The 1-D, 3-D, transposed and adaptive ops under torch.ops.fastconv: values and indices against
torch.nn.functional, gradcheck in float64, opcheck, channels_last_3d, and their drop-in modules."""

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import fastconv.torch as fct  # noqa: E402

ops = torch.ops.fastconv


def _t(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + sum(shape)))


# op name -> (torch.nn.functional-style positional arguments, tensor argument positions)
CASES = {
    "conv1d": ((_t(2, 4, 9), _t(6, 2, 3), _t(6), 2, 1, 1, 2), (0, 1, 2)),
    "conv3d": ((_t(1, 2, 5, 6, 5), _t(3, 2, 3, 2, 3), None, (1, 2, 1), (1, 0, 1), (1, 1, 2)), (0, 1)),
    "conv_transpose1d": ((_t(2, 4, 7), _t(4, 3, 3), _t(6), 2, 1, 1, 2), (0, 1, 2)),
    "conv_transpose2d": ((_t(2, 4, 5, 6), _t(4, 3, 3, 3), _t(3), (2, 1), 1, (1, 0), 1, (1, 2)), (0, 1, 2)),
    "conv_transpose3d": ((_t(1, 2, 3, 4, 3), _t(2, 2, 2, 3, 2), None, (2, 1, 2), (0, 1, 0), (1, 0, 0)), (0, 1)),
    "max_pool1d": ((_t(2, 3, 9), 3, 2, 1, 1, True), (0,)),
    "max_pool3d": ((_t(1, 2, 5, 6, 5), (2, 3, 2), (2, 2, 1), (1, 1, 0), (1, 1, 2)), (0,)),
    "avg_pool1d": ((_t(2, 3, 9), 3, 2, 1, True, False), (0,)),
    "avg_pool3d": ((_t(1, 2, 5, 6, 5), (2, 3, 2), (2, 2, 1), (1, 1, 0), False, True, 7), (0,)),
    "adaptive_avg_pool1d": ((_t(2, 3, 9), 4), (0,)),
    "adaptive_avg_pool2d": ((_t(2, 3, 9, 7), (4, None)), (0,)),
    "adaptive_avg_pool3d": ((_t(1, 2, 5, 6, 5), (2, 3, 4)), (0,)),
    "adaptive_max_pool1d": ((_t(2, 3, 9), 4), (0,)),
    "adaptive_max_pool2d": ((_t(2, 3, 9, 7), (4, 3)), (0,)),
    "adaptive_max_pool3d": ((_t(1, 2, 5, 6, 5), (2, 3, 4)), (0,)),
}


def test_every_case_is_registered():
    assert set(CASES) <= set(fct.registered_ops())


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_and_gradcheck(name):
    args, tensor_pos = CASES[name]
    ours, theirs = getattr(fct, name), getattr(F, name)
    if "max_pool" in name:
        (y, idx), (ry, ridx) = ours(*args, return_indices=True), theirs(*args, return_indices=True)
        assert torch.equal(idx, ridx) and idx.dtype == torch.int64
    else:
        y, ry = ours(*args), theirs(*args)
    torch.testing.assert_close(y, ry, rtol=1e-12, atol=1e-12)

    inputs = tuple(args[i].clone().requires_grad_() for i in tensor_pos)

    def f(*ts):
        a = list(args)
        for i, t in zip(tensor_pos, ts):
            a[i] = t
        return ours(*a)

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_opcheck(name):
    args, tensor_pos = CASES[name]
    # The op's own argument lists, as the functional wrapper passes them.
    seen = []
    op = getattr(ops, name)

    class Record(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, a=(), kw=None):
            if func is op or getattr(func, "_overloadpacket", None) is op:
                seen.append(a)
            return func(*a, **(kw or {}))

    with Record():
        getattr(fct, name)(*args)
    (op_args,) = seen
    op_args = tuple(a.clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in op_args)
    torch.library.opcheck(op, op_args)


def test_channels_last_3d():
    x = _t(2, 4, 5, 6, 5).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    w = _t(3, 4, 3, 3, 3).requires_grad_()
    y = fct.conv3d(x, w, None, 1, 1)
    assert y.is_contiguous(memory_format=torch.channels_last_3d) and not y.is_contiguous()
    torch.testing.assert_close(y, F.conv3d(x, w, None, 1, 1))
    p, idx = fct.max_pool3d(x, 2, return_indices=True)
    assert p.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(idx, F.max_pool3d(x, 2, return_indices=True)[1])
    torch.library.opcheck(ops.conv3d, (x, w, None, [1, 1, 1], [1, 1, 1], [1, 1, 1], 1))
    small = _t(1, 2, 3, 4, 3).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: fct.avg_pool3d(a, 2, 1, 1), (small,))


MODULES = [
    ("Conv1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2), (2, 4, 9)),
    ("Conv1d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="circular"), (2, 2, 9)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=(3, 2, 3), padding="same"), (1, 2, 5, 6, 5)),
    ("Conv3d", dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="replicate"), (1, 2, 4, 5, 4)),
    ("ConvTranspose1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, output_padding=1, groups=2),
     (2, 4, 7)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=3, kernel_size=3, stride=2, padding=1, dilation=2),
     (2, 4, 5, 6)),
    ("ConvTranspose3d", dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, bias=False), (1, 2, 3, 4, 3)),
    ("MaxPool1d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 9)),
    ("MaxPool3d", dict(kernel_size=2, return_indices=True), (1, 2, 5, 6, 5)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    ("AvgPool3d", dict(kernel_size=2, stride=1, divisor_override=3), (1, 2, 4, 5, 4)),
    ("AdaptiveAvgPool1d", dict(output_size=4), (2, 3, 9)),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 3)), (2, 3, 9, 7)),
    ("AdaptiveAvgPool3d", dict(output_size=2), (1, 2, 5, 6, 5)),
    ("AdaptiveMaxPool1d", dict(output_size=4, return_indices=True), (2, 3, 9)),
    ("AdaptiveMaxPool2d", dict(output_size=(4, 3)), (2, 3, 9, 7)),
    ("AdaptiveMaxPool3d", dict(output_size=(2, 3, 4)), (1, 2, 5, 6, 5)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name,kwargs,shape", MODULES, ids=[m[0] + str(i) for i, m in enumerate(MODULES)])
def test_modules_are_torchs(name, kwargs, shape):
    cls, ref_cls = getattr(fct, name), getattr(torch.nn, name)
    torch.manual_seed(7)
    mod = cls(**kwargs).double()
    torch.manual_seed(7)
    ref = ref_cls(**kwargs).double()
    assert isinstance(mod, ref_cls) and mod.extra_repr() == ref.extra_repr()
    assert {k: v.shape for k, v in mod.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    for p, r in zip(mod.parameters(), ref.parameters()):
        assert torch.equal(p, r)
    x = _t(*shape).requires_grad_()
    y, ry = mod(x), ref(x)
    if kwargs.get("return_indices"):
        assert torch.equal(y[1], ry[1])
        y, ry = y[0], ry[0]
    torch.testing.assert_close(y, ry)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, *mod.parameters()], dy)
    want = torch.autograd.grad(ry, [x, *ref.parameters()], dy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)


def test_conv_transpose_module_output_size_and_padding_mode():
    torch.manual_seed(0)
    mod = fct.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    ref = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    ref.load_state_dict(mod.state_dict())
    x = _t(1, 3, 4, 5)
    torch.testing.assert_close(mod(x, output_size=(8, 10)), ref(x, output_size=(8, 10)))
    with pytest.raises(ValueError, match="zeros"):
        fct.ConvTranspose2d(3, 2, 3, padding_mode="reflect")


def test_convert_covers_the_nd_modules():
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.ConvTranspose1d(3, 2, 2),
                                torch.nn.AdaptiveMaxPool1d(2), torch.nn.Sequential(torch.nn.AvgPool1d(1)))
    report = fct.convert(model)
    assert [(n, new) for n, _, new in report] == [("0", fct.Conv1d), ("1", fct.ConvTranspose1d),
                                                  ("2", fct.AdaptiveMaxPool1d), ("3.0", fct.AvgPool1d)]
    x = _t(2, 2, 8).float()
    torch.testing.assert_close(model(x), torch.nn.Sequential(*[m for m in model])(x))
