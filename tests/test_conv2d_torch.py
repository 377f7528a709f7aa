"""conv2d against torch.nn.functional.conv2d and autograd (runs where torch is installed)."""

import numpy as np
import pytest

import fastconv as fc

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = [
    # (N, C, H, W, K, R, S, stride, padding, dilation, groups)
    (2, 3, 9, 8, 4, 3, 3, 1, 0, 1, 1),
    (2, 4, 12, 11, 6, 3, 3, 2, 1, 1, 2),
    (1, 6, 11, 10, 6, 3, 3, (2, 3), (1, 2), (2, 1), 6),
    (2, 8, 13, 13, 16, 3, 3, 1, "same", 2, 2),
    (1, 5, 10, 9, 3, 4, 2, 1, "same", 1, 1),
    (2, 3, 17, 15, 5, 7, 7, 2, 3, 1, 1),
    (3, 8, 7, 7, 4, 1, 1, 2, 0, 1, 1),
    (1, 3, 5, 5, 2, 5, 5, 1, "valid", 1, 1),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_forward_and_autograd(case, dtype):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = case
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    y = fc.conv2d(x, w, b, stride, padding, dilation, groups)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(dw, wt.grad.numpy(), **tol)
    np.testing.assert_allclose(db, bt.grad.numpy(), **tol)


def test_unbatched_and_empty_like_torch():
    x = torch.randn(3, 8, 9, dtype=torch.float64)
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    np.testing.assert_allclose(fc.conv2d(x.numpy(), w.numpy(), None, 1, 1), F.conv2d(x, w, None, 1, 1).numpy(),
                               rtol=1e-12, atol=1e-12)
    e = torch.zeros(0, 3, 8, 9, dtype=torch.float64)
    assert fc.conv2d(e.numpy(), w.numpy(), None, 2, 1).shape == tuple(F.conv2d(e, w, None, 2, 1).shape)


def test_torch_tensors_in_torch_tensors_out():
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(4, 3, 3, 3)
    b = torch.randn(4)
    y = fc.conv2d(x, w, b, padding=1)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    torch.testing.assert_close(y, F.conv2d(x, w, b, padding=1), rtol=1e-4, atol=1e-4)
    dx, dw, db = fc.conv2d_backward(torch.ones_like(y), x, w, b, padding=1)
    assert all(isinstance(g, torch.Tensor) for g in (dx, dw, db))


def test_channels_last_layout_matches_torch():
    x = torch.randn(2, 6, 10, 9, dtype=torch.float64)
    w = torch.randn(8, 3, 3, 3, dtype=torch.float64)
    ref = F.conv2d(x, w, None, 2, 1, 1, 2)
    y = fc.conv2d(x.permute(0, 2, 3, 1).numpy(), w.permute(0, 2, 3, 1).numpy(), None, 2, 1, 1, 2, layout="NHWC")
    np.testing.assert_allclose(y, ref.permute(0, 2, 3, 1).numpy(), rtol=1e-12, atol=1e-12)
