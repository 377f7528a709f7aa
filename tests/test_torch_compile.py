"""torch.compile(fullgraph=True) over fastconv ops on the CPU: compiled forward and gradients equal eager."""

import pytest

torch = pytest.importorskip("torch")

import fastconv.torch as fct  # noqa: E402

from fastconv.testing.torch_models import SmallCNN  # noqa: E402


class _ConvPoolStack(torch.nn.Module):
    """Only fastconv ops between input and output: inductor's C++ code generation stays small."""

    def __init__(self):
        super().__init__()
        self.conv1 = fct.Conv2d(3, 4, 3, padding=1)
        self.pool1 = fct.MaxPool2d(2, return_indices=False)
        self.conv2 = fct.Conv2d(4, 4, 3, padding=1, padding_mode="zeros", groups=2)
        self.pool2 = fct.AvgPool2d(2)

    def forward(self, x):
        return self.pool2(self.conv2(self.pool1(self.conv1(x))))


def _eager_and_compiled(model, x, **compile_kwargs):
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, **compile_kwargs)
    results = []
    for fn in (model, compiled):
        model.zero_grad()
        xi = x.detach().clone().requires_grad_()
        y = fn(xi)
        y.square().sum().backward()
        results.append((y.detach(), xi.grad, [p.grad.clone() for p in model.parameters()]))
    return results


def test_compile_inductor_forward_and_backward():
    torch.manual_seed(0)
    model = _ConvPoolStack()
    (y, gx, gp), (yc, gxc, gpc) = _eager_and_compiled(model, torch.randn(2, 3, 8, 8))
    torch.testing.assert_close(yc, y, rtol=0, atol=0)
    torch.testing.assert_close(gxc, gx, rtol=0, atol=0)
    for a, b in zip(gpc, gp):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_compile_small_cnn_aot_eager_dynamic(channels_last):
    torch.manual_seed(0)
    model = SmallCNN(fct.Conv2d, fct.MaxPool2d, fct.AvgPool2d)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(4, 3, 8, 8).contiguous(memory_format=fmt)
    (y, gx, gp), (yc, gxc, gpc) = _eager_and_compiled(model, x, backend="aot_eager", dynamic=True)
    torch.testing.assert_close(yc, y, rtol=0, atol=0)
    torch.testing.assert_close(gxc, gx, rtol=0, atol=0)
    for a, b in zip(gpc, gp):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
