"""Shared helpers of the conv2d tests: random problems in either layout, checked against the
float64 reference."""

from __future__ import annotations

import numpy as np

import fastconv as fc
from fastconv.testing import reference as ref
from fastconv.testing.tolerances import assert_close


def to_layout(a_nchw: np.ndarray, layout: str) -> np.ndarray:
    """An NCHW (or KCRS) array stored in `layout`, contiguous."""
    return a_nchw if layout == "NCHW" else np.ascontiguousarray(a_nchw.transpose(0, 2, 3, 1))


def to_nchw(a: np.ndarray, layout: str) -> np.ndarray:
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


def make_problem(rng, N, C, H, W, K, R, S, groups=1, dtype=np.float32, bias=True):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((K, C // groups, R, S))
    b = rng.standard_normal(K) if bias else None
    return x, w, b


def check_all_passes(rng, N, C, H, W, K, R, S, stride=1, padding=0, dilation=1, groups=1,
                     dtype=np.float32, layout="NCHW", bias=True, c=8.0):
    """Forward and all three gradients vs the reference; returns the fastconv outputs."""
    x64, w64, b64 = make_problem(rng, N, C, H, W, K, R, S, groups, dtype, bias)
    x = to_layout(x64, layout).astype(dtype)
    w = to_layout(w64, layout).astype(dtype)
    b = None if b64 is None else b64.astype(dtype)
    # The reference sees exactly the values the kernel sees.
    xr, wr = to_nchw(x, layout).astype(np.float64), to_nchw(w, layout).astype(np.float64)
    br = None if b is None else b.astype(np.float64)

    y = fc.conv2d(x, w, b, stride, padding, dilation, groups, layout=layout)
    y_ref = ref.conv2d(xr, wr, br, stride, padding, dilation, groups)
    assert y.dtype == dtype
    L = (C // groups) * R * S
    assert_close(to_nchw(y, layout), y_ref, L, dtype, c=c)

    dy = rng.standard_normal(y.shape).astype(dtype)
    dyr = to_nchw(dy, layout).astype(np.float64)
    dx, dw, db = fc.conv2d_backward(dy, x, w, b, stride, padding, dilation, groups, layout=layout)
    assert dx.shape == x.shape and dw.shape == w.shape and dx.dtype == dtype and dw.dtype == dtype
    P, Q = y_ref.shape[2:]
    assert_close(to_nchw(dx, layout), ref.conv2d_dgrad(dyr, xr.shape, wr, stride, padding, dilation, groups),
                 (K // groups) * R * S, dtype, c=c)
    assert_close(to_nchw(dw, layout), ref.conv2d_wgrad(dyr, xr, wr.shape, stride, padding, dilation, groups),
                 N * P * Q, dtype, c=c)
    if bias:
        assert db.shape == (K,) and db.dtype == dtype
        assert_close(db, ref.conv2d_bgrad(dyr), N * P * Q, dtype, c=c)
    else:
        assert db is None
    return y, (dx, dw, db)


def run_under_isa(isa: str, body: str) -> None:
    """Runs `body` in a fresh interpreter with FASTCONV_ISA=isa and checks that it ends; skips where
    that path is not compiled or the CPU lacks it. The tests folder is importable there, and fc, np
    and rng (seeded) are defined."""
    import os
    import subprocess
    import sys
    import textwrap

    import pytest

    info = fc.build_info()
    supported = {"scalar": True, "avx2": "avx2" in info["cpu_features"] and "fma" in info["cpu_features"],
                 "avx512": "avx512f" in info["cpu_features"]}
    if isa not in info["cpu_isa_compiled"] or not supported[isa]:
        pytest.skip(f"{isa} path not compiled or not supported by this CPU")
    code = (f"import sys, numpy as np, fastconv as fc\n"
            f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"assert fc.build_info()['cpu_isa_selected'] == {isa!r}, fc.build_info()['cpu_isa_selected']\n"
            f"rng = np.random.default_rng(0)\n" + textwrap.dedent(body) + "\nprint('ok')\n")
    env = dict(os.environ, FASTCONV_ISA=isa)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


def assert_same_bits_for_thread_counts(compute, counts=(1, 2, 3, 1)) -> None:
    """compute() returns an array or a sequence of arrays; they must have the same bytes at every
    thread count in `counts` (the last repeats the first: the same bits run after run too)."""
    saved = fc.get_num_threads()
    results = []
    try:
        for n in counts:
            fc.set_num_threads(n)
            out = compute()
            results.append([out] if isinstance(out, np.ndarray) else list(out))
    finally:
        fc.set_num_threads(saved)
    for other in results[1:]:
        assert len(other) == len(results[0])
        for a, b in zip(other, results[0]):
            assert a.tobytes() == b.tobytes()
