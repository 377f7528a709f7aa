"""Depthwise conv2d benchmark: fastconv vs PyTorch CPU per pass, interleaved in one process, medians.

    PYTHONPATH=python python benchmarks/depthwise_bench.py [--threads 1] [--reps 15] [--clock cpu|wall]
        [--shape N,C,H,W] [--in-cache]

Passes: fwd (with bias), dx, dw, bwd (dx + dw + db), each in NCHW and NHWC (channels_last torch
tensors over the same memory). Every fastconv result is checked against torch once before timing.
--clock cpu (the default) times process CPU time: on a shared machine it leaves out the time other
processes hold the cores, so compare it at one thread only. Each row also gives fastconv's bytes per
second (the arrays a pass must read and write once: fwd x + y, dx dy + dx, dw x + dy, bwd x + dy + dx)
as a share of the copy bandwidth measured by the same clock in the same process (a NumPy copy of
128 MiB, read + write counted, best of 5; with --clock wall split over --threads threads). --in-cache also reports the kernels' own
speed on an image small enough to stay in L2 (ns per output element, the best of many runs) and
its fraction of one core's FMA peak (9 multiply-adds per element).
"""

from __future__ import annotations

import os
import sys

# torch's OpenMP workers otherwise spin after each torch call (see pool2d_bench.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time

import numpy as np
import torch

import fastconv as fc

aten = torch.ops.aten


def passes(x, w, b, dy, layout):
    """name -> (fastconv call, torch call), on the same values."""
    C = x.shape[1]
    xt, wt, bt, dyt = (torch.from_numpy(a) for a in (x, w, b, dy))
    if layout == "NHWC":
        xt, wt, dyt = (t.contiguous(memory_format=torch.channels_last) for t in (xt, wt, dyt))
        xf, wf, dyf = (t.permute(0, 2, 3, 1).numpy() for t in (xt, wt, dyt))
    else:
        xf, wf, dyf = x, w, dy

    def fc_bwd(needs):
        return lambda: fc.conv2d_backward(dyf, xf, wf, b, 1, 1, 1, C, layout=layout, needs_input_grad=needs)

    def torch_bwd(needs):
        return lambda: aten.convolution_backward(dyt, xt, wt, [C], [1, 1], [1, 1], [1, 1], False, [0, 0], C,
                                                 list(needs))

    return {
        "fwd": (lambda: fc.conv2d(xf, wf, b, 1, 1, 1, C, layout=layout), lambda: torch.conv2d(xt, wt, bt, 1, 1, 1, C)),
        "dx": (fc_bwd((True, False, False)), torch_bwd((True, False, False))),
        "dw": (fc_bwd((False, True, False)), torch_bwd((False, True, False))),
        "bwd": (fc_bwd((True, True, True)), torch_bwd((True, True, True))),
    }


def to_nchw(a, layout):
    return a if layout == "NCHW" else np.moveaxis(a, 3, 1)


def check(name, ours, theirs, layout):
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for o, t in zip(ours, theirs):
        if o is None:
            continue
        o = to_nchw(o, layout) if o.ndim == 4 else o
        np.testing.assert_allclose(o, t.numpy(), rtol=1e-3, atol=1e-3 * float(np.abs(t.numpy()).max()),
                                   err_msg=f"{layout} {name}")


def in_cache(layout, reps=201):
    """ns per output element of each pass on a small image (L2-resident), the best of `reps` runs."""
    rng = np.random.default_rng(1)
    N, C, H, W = (8, 16, 56, 56) if layout == "NCHW" else (1, 128, 56, 56)
    x, dy = (rng.standard_normal((N, C, H, W)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    out = {}
    for name, (ours, _) in passes(x, w, b, dy, layout).items():
        ours()
        best = min(_timed(ours, time.perf_counter) for _ in range(reps))
        out[name] = best / x.size * 1e9
    return out


# Arrays of the image's size each pass reads or writes once.
PASS_ARRAYS = {"fwd": 2, "dx": 2, "dw": 2, "bwd": 3}


def copy_gbs(clock, mib=128, tries=5):
    """Best GB/s (read + write) of NumPy copies of `mib` MiB, timed by `clock`."""
    src = np.ones((mib << 20) // 4, np.float32)
    dst = np.zeros_like(src)
    return max(2 * src.nbytes / _timed(lambda: np.copyto(dst, src), clock) for _ in range(tries)) / 1e9


def _timed(fn, clock):
    s = clock()
    fn()
    return clock() - s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    ap.add_argument("--shape", default="8,128,56,56", help="N,C,H,W (3x3, stride 1, padding 1, groups C)")
    ap.add_argument("--in-cache", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fc.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    N, C, H, W = (int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    x, dy = (rng.standard_normal((N, C, H, W)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal((C, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    print(f"depthwise 3x3, {N}x{C}x{H}x{W}, {args.threads} thread(s), {args.clock} time, medians of {args.reps}; "
          f"fastconv {fc.__version__} [{fc.build_info()['cpu_isa_selected']}], torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.clock == "cpu":
        copy = copy_gbs(clock)
    else:  # wall clock: the copy split over as many threads as the kernels get
        from fastconv.cli.peak import copy_bandwidth

        copy = copy_bandwidth(args.threads)
    print(f"copy bandwidth (NumPy, 128 MiB, read + write, {args.threads} thread(s)): {copy:.1f} GB/s")
    print(f"{'layout':6s} {'pass':4s} {'fastconv ms':>11s} {'torch ms':>9s} {'ratio':>6s} {'GB/s':>6s} {'% copy':>6s}")
    for layout in ("NCHW", "NHWC"):
        for name, (ours, theirs) in passes(x, w, b, dy, layout).items():
            check(name, ours(), theirs(), layout)
            a, t = [], []
            for _ in range(args.reps):
                a.append(_timed(ours, clock))
                t.append(_timed(theirs, clock))
            ma, mt = statistics.median(a) * 1e3, statistics.median(t) * 1e3
            gbs = PASS_ARRAYS[name] * x.nbytes / ma / 1e6
            print(f"{layout:6s} {name:4s} {ma:11.3f} {mt:9.3f} {mt / ma:5.2f}x {gbs:6.1f} {gbs / copy:6.0%}", flush=True)
    if args.in_cache:
        peak = max(fc._C.fma_peak_gflops(0.05, 1) for _ in range(10))  # short tries: one misses the others
        floor = 18 / peak  # ns per element at the peak: 9 multiply-adds
        print(f"in cache, one thread (ns per output element per call, call overhead included, best of 201; "
              f"FMA peak {peak:.0f} GFLOP/s = {floor:.3f} ns per element and pass)")
        for layout in ("NCHW", "NHWC"):
            speeds = in_cache(layout)
            print(f"{layout:6s} " + "  ".join(f"{k} {v:.3f} ({floor / v:.0%})" for k, v in speeds.items()))


if __name__ == "__main__":
    main()
