"""Pooling benchmark: fastconv vs PyTorch CPU, interleaved in one process, medians.

    PYTHONPATH=python python benchmarks/pool2d_bench.py [--threads 1,2] [--reps 15] [--case NAME ...]

GB/s counts bytes read + written once each (the memory floor); "% copy" compares with a large NumPy
copy measured in the same run (also read + write). Every fastconv result is checked against torch once
before timing (max pool exactly, avg pool within rounding).
"""

from __future__ import annotations

import os
import sys

# torch's OpenMP workers otherwise spin for milliseconds after each torch call, keeping the second
# core busy while the fastconv call timed next wants it (interleaved timing penalises fastconv's
# thread pool; torch's own timings do not change). --omp-active keeps OpenMP's default.
if "--omp-active" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

import fastconv as fc

aten = torch.ops.aten

CASES = {
    # name: (kind, N, C, H, W, k, s, p)
    "max3x3s2": ("max", 8, 64, 112, 112, 3, 2, 1),
    "max2x2s2.seed": ("max", 64, 32, 26, 26, 2, 2, 0),
    "avg3x3s2": ("avg", 8, 64, 112, 112, 3, 2, 1),
    "avg2x2s2.seed": ("avg", 64, 32, 26, 26, 2, 2, 0),
}


def copy_bandwidth(reps: int) -> float:
    """Read + write GB/s of a 64 MiB NumPy copy (median)."""
    src = np.random.default_rng(0).standard_normal(64 * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        np.copyto(dst, src)
        ts.append(time.perf_counter() - t)
    return 2 * src.nbytes / statistics.median(ts) / 1e9


def interleaved(fns, reps: int):
    """(median, min) seconds of each fn, called A B A B ..."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            f()
            times[i].append(time.perf_counter() - t)
    return [(statistics.median(t), min(t)) for t in times]


def nchw(a, layout):
    return a if layout == "NCHW" else np.moveaxis(a, -1, 1)


def rows_for(name, layout, reps):
    kind, N, C, H, W, k, s, p = CASES[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    xt = torch.from_numpy(x)
    if layout == "NHWC":
        xt = xt.contiguous(memory_format=torch.channels_last)
        x = xt.permute(0, 2, 3, 1).numpy()
    P = (H + 2 * p - k) // s + 1
    Q = (W + 2 * p - k) // s + 1
    dy = rng.standard_normal((N, C, P, Q), dtype=np.float32)
    dyt = torch.from_numpy(dy)
    if layout == "NHWC":
        dyt = dyt.contiguous(memory_format=torch.channels_last)
        dy = dyt.permute(0, 2, 3, 1).numpy()
    xb, yb = x.nbytes, dy.nbytes
    ib = yb * 2  # int64 indices
    out = []
    with torch.no_grad():
        if kind == "max":
            yt, it = F.max_pool2d(xt, k, s, p, return_indices=True)
            y, idx = fc.max_pool2d(x, k, s, p, return_indices=True, layout=layout)
            assert np.array_equal(nchw(y, layout), yt.numpy()) and np.array_equal(nchw(idx, layout), it.numpy())
            dxt = aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1], False, it)
            for kw in ({"indices": idx}, {}):
                dx = fc.max_pool2d_backward(dy, x, k, s, p, layout=layout, **kw)
                assert np.array_equal(nchw(dx, layout), dxt.numpy())
            out.append(("fwd", lambda: fc.max_pool2d(x, k, s, p, layout=layout),
                        lambda: F.max_pool2d(xt, k, s, p), xb + yb))
            out.append(("fwd+idx", lambda: fc.max_pool2d(x, k, s, p, return_indices=True, layout=layout),
                        lambda: F.max_pool2d(xt, k, s, p, return_indices=True), xb + yb + ib))
            out.append(("bwd idx", lambda: fc.max_pool2d_backward(dy, x, k, s, p, layout=layout, indices=idx),
                        lambda: aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1],
                                                                      False, it), yb + ib + xb))
            out.append(("bwd x", lambda: fc.max_pool2d_backward(dy, x, k, s, p, layout=layout),
                        lambda: aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1],
                                                                      False, it), yb + xb + xb))
        else:
            yt = F.avg_pool2d(xt, k, s, p)
            y = fc.avg_pool2d(x, k, s, p, layout=layout)
            np.testing.assert_allclose(nchw(y, layout), yt.numpy(), rtol=1e-5, atol=1e-6)
            dxt = aten.avg_pool2d_backward(dyt, xt, [k, k], [s, s], [p, p], False, True, None)
            dx = fc.avg_pool2d_backward(dy, x, k, s, p, layout=layout)
            np.testing.assert_allclose(nchw(dx, layout), dxt.numpy(), rtol=1e-5, atol=1e-6)
            out.append(("fwd", lambda: fc.avg_pool2d(x, k, s, p, layout=layout),
                        lambda: F.avg_pool2d(xt, k, s, p), xb + yb))
            out.append(("bwd", lambda: fc.avg_pool2d_backward(dy, x, k, s, p, layout=layout),
                        lambda: aten.avg_pool2d_backward(dyt, xt, [k, k], [s, s], [p, p], False, True, None),
                        yb + xb))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--case", nargs="*", default=list(CASES))
    ap.add_argument("--layout", nargs="*", default=["NCHW", "NHWC"])
    ap.add_argument("--pass", dest="passes", nargs="*", default=None)
    ap.add_argument("--omp-active", action="store_true", help="leave OMP_WAIT_POLICY alone")
    a = ap.parse_args()
    print(f"fastconv {fc.build_info()['cpu_isa_selected']}, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}")
    print(f"{'case':15} {'layout':6} {'pass':8} {'thr':>3} {'fc ms':>8} {'torch ms':>8} {'ratio':>7} "
          f"{'GB/s':>6} {'%copy':>6}   (min: fc, torch, ratio, %copy)")
    for threads in [int(t) for t in a.threads.split(",")]:
        fc.set_num_threads(threads)
        torch.set_num_threads(threads)
        copy_bw = copy_bandwidth(a.reps)
        print(f"-- {threads} thread(s): NumPy copy {copy_bw:.1f} GB/s (read + write)")
        for name in a.case:
            for layout in a.layout:
                for pname, f_fc, f_t, nbytes in rows_for(name, layout, a.reps):
                    if a.passes and pname not in a.passes:
                        continue
                    (t_fc, m_fc), (t_t, m_t) = interleaved([f_fc, f_t], a.reps)
                    gbs = nbytes / t_fc / 1e9
                    print(f"{name:15} {layout:6} {pname:8} {threads:3d} {t_fc * 1e3:8.3f} {t_t * 1e3:8.3f} "
                          f"{t_t / t_fc:6.2f}x {gbs:6.1f} {100 * gbs / copy_bw:5.0f}%   "
                          f"({m_fc * 1e3:.3f}, {m_t * 1e3:.3f}, {m_t / m_fc:.2f}x, "
                          f"{100 * nbytes / m_fc / 1e9 / copy_bw:.0f}%)", flush=True)


if __name__ == "__main__":
    main()
