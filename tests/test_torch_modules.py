"""fastconv.torch modules and convert(): torch.nn's constructor, parameters, state_dict and init;
padding modes; a converted ResNet-18-shaped model against stock torch (outputs, gradients, SGD steps)."""

import copy

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import fastconv.torch as fct  # noqa: E402

from fastconv.testing.torch_models import ResNet18, SmallCNN  # noqa: E402

CONV_KWARGS = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
         groups=2, bias=False),
    dict(in_channels=3, out_channels=3, kernel_size=4, padding="same", dilation=1),
    dict(in_channels=2, out_channels=4, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(in_channels=2, out_channels=4, kernel_size=3, padding=(1, 2), padding_mode="replicate"),
    dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1, padding_mode="circular"),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kwargs", CONV_KWARGS, ids=lambda k: str(sorted(k.items())))
def test_conv2d_module_is_torchs(kwargs):
    torch.manual_seed(3)
    ref = nn.Conv2d(**kwargs, dtype=torch.float64)
    torch.manual_seed(3)
    mod = fct.Conv2d(**kwargs, dtype=torch.float64)
    assert isinstance(mod, nn.Conv2d)
    assert mod.extra_repr() == ref.extra_repr()
    assert list(mod.state_dict()) == list(ref.state_dict())
    for (n, p), (rn, rp) in zip(mod.named_parameters(), ref.named_parameters()):
        assert n == rn and torch.equal(p, rp)  # reset_parameters: torch's init, same RNG draws
    x = torch.randn(2, kwargs["in_channels"], 7, 6, dtype=torch.float64, requires_grad=True)
    y, yr = mod(x), ref(x)
    torch.testing.assert_close(y, yr)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, *mod.parameters()], dy)
    want = torch.autograd.grad(yr, [x, *ref.parameters()], dy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r)
    mod.load_state_dict(ref.state_dict())


def test_conv2d_module_refuses_bad_padding_mode_like_torch():
    with pytest.raises(ValueError, match="padding_mode"):
        fct.Conv2d(2, 2, 3, padding_mode="mirror")


@pytest.mark.parametrize("cls,ref_cls,kwargs", [
    (fct.MaxPool2d, nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)),
    (fct.MaxPool2d, nn.MaxPool2d, dict(kernel_size=2, return_indices=True)),
    (fct.MaxPool2d, nn.MaxPool2d, dict(kernel_size=(3, 2), stride=(1, 2), dilation=(2, 1))),
    (fct.AvgPool2d, nn.AvgPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (fct.AvgPool2d, nn.AvgPool2d, dict(kernel_size=2, divisor_override=3)),
])
def test_pool_modules_are_torchs(cls, ref_cls, kwargs):
    mod, ref = cls(**kwargs), ref_cls(**kwargs)
    assert isinstance(mod, ref_cls) and mod.extra_repr() == ref.extra_repr()
    assert list(mod.state_dict()) == [] == list(ref.state_dict())
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    y, yr = mod(x), ref(x)
    if kwargs.get("return_indices"):
        assert torch.equal(y[1], yr[1])
        y, yr = y[0], yr[0]
    torch.testing.assert_close(y, yr)
    dy = torch.randn_like(y)
    torch.testing.assert_close(torch.autograd.grad(y, x, dy)[0], torch.autograd.grad(yr, x, dy)[0])


def test_convert_replaces_in_place_and_reports():
    model = ResNet18(width=4, head_pool="avg")
    shared = nn.MaxPool2d(2)
    model.extra = nn.Sequential(shared, shared)
    model.subclassed = type("MyConv", (nn.Conv2d,), {})(2, 2, 1)
    model.half_conv = nn.Conv2d(2, 2, 1).half()
    weights = {n: p for n, p in model.named_parameters()}
    old_conv1 = model.conv1
    report = fct.convert(model)

    names = [n for n, _, _ in report]
    assert "conv1" in names and "maxpool" in names and "avgpool" in names
    assert "layer2.0.downsample.0" in names and "layer4.1.conv2" in names and "extra.0" in names
    assert len([n for n in names if n.startswith("extra")]) == 1
    assert model.extra[0] is model.extra[1] and type(model.extra[0]) is fct.MaxPool2d
    assert sum(t is nn.Conv2d for _, t, _ in report) == 1 + 16 + 3
    assert all(new in (fct.Conv2d, fct.MaxPool2d, fct.AvgPool2d) for _, _, new in report)
    skipped = {n: reason for n, _, reason in report.skipped}
    assert set(skipped) == {"subclassed", "half_conv"}
    assert "subclass" in skipped["subclassed"] and "float16" in skipped["half_conv"]
    assert type(model.subclassed).__name__ == "MyConv" and type(model.half_conv) is nn.Conv2d
    # The same Parameter objects, under the same names; the old module object is untouched.
    assert {n: p for n, p in model.named_parameters()} == weights
    assert model.conv1.weight is old_conv1.weight and type(old_conv1) is nn.Conv2d
    assert not any(type(m) in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
                   for n, m in model.named_modules() if n not in skipped)
    again = fct.convert(model)
    assert list(again) == [] and all("already" in r for n, _, r in again.skipped if n not in skipped)


def test_convert_refuses_non_modules_and_leaves_the_root():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fct.convert("model")
    conv = nn.Conv2d(2, 2, 3)
    report = fct.convert(conv)
    assert list(report) == [] and report.skipped[0][0] == "" and type(conv) is nn.Conv2d


def _resnet_pair(dtype, width=4):
    torch.manual_seed(0)
    ref = ResNet18(width=width, head_pool="avg").to(dtype)
    model = copy.deepcopy(ref)
    report = fct.convert(model)
    assert len(report) == 20 + 2 and not report.skipped
    return ref, model


def test_converted_resnet18_matches_torch_outputs_and_gradients():
    ref, model = _resnet_pair(torch.float64)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for m in (ref, model):
        m.train()
    y, yr = model(x), ref(x)
    torch.testing.assert_close(y, yr, rtol=1e-9, atol=1e-9)
    y.square().sum().backward()
    yr.square().sum().backward()
    for (n, p), (_, r) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, r.grad, rtol=1e-8, atol=1e-8, msg=lambda m: f"{n}: {m}")
    model.eval(), ref.eval()
    torch.testing.assert_close(model(x), ref(x), rtol=1e-9, atol=1e-9)


def test_converted_resnet18_channels_last_float32():
    ref, model = _resnet_pair(torch.float32)
    ref, model = ref.to(memory_format=torch.channels_last), model.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    y, yr = model(x), ref(x)
    torch.testing.assert_close(y, yr, rtol=1e-4, atol=1e-4)
    y.sum().backward()
    yr.sum().backward()
    torch.testing.assert_close(model.conv1.weight.grad, ref.conv1.weight.grad, rtol=1e-3, atol=1e-3)


def _train(model, steps, x, target, lr=0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_sgd_steps_match_torch(dtype, tol):
    ref, model = _resnet_pair(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 64, 64, generator=g).to(dtype)
    target = torch.randint(0, 10, (4,), generator=g)
    losses = _train(model, 3, x, target)
    ref_losses = _train(ref, 3, x, target)
    assert losses == pytest.approx(ref_losses, rel=tol, abs=tol)
    for (n, p), (_, r) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p, r, rtol=tol, atol=tol, msg=lambda m: f"{n}: {m}")


def test_small_cnn_trains_with_fastconv_modules():
    torch.manual_seed(5)
    model = SmallCNN(fct.Conv2d, fct.MaxPool2d, fct.AvgPool2d).double()
    torch.manual_seed(5)
    ref = SmallCNN().double()
    x = torch.randn(8, 3, 8, 8, dtype=torch.float64)
    target = torch.randint(0, 4, (8,))
    assert _train(model, 4, x, target) == pytest.approx(_train(ref, 4, x, target), rel=1e-10)


def test_converted_model_pickles_and_loads_stock_state_dicts(tmp_path):
    torch.manual_seed(0)
    stock = SmallCNN()
    model = SmallCNN()
    fct.convert(model)
    model.load_state_dict(stock.state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), stock(x), rtol=1e-5, atol=1e-5)
    torch.save(model, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    assert type(loaded.conv1) is fct.Conv2d and type(loaded.pool2) is fct.AvgPool2d
    assert torch.equal(loaded(x), model(x))
