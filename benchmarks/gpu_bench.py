"""GPU benchmark of fastconv's CUDA pooling and depthwise kernels against PyTorch (cuDNN or its own
CUDA kernels), fp32, in one process, interleaved, medians (BENCHMARKS.md).

Cases: the suite's pools (maxpool.3x3.s2, seed.maxpool.2x2; an avg pool of the first's shape too)
and depthwise.3x3 at N = 64, each in NCHW and NHWC (torch: channels_last tensors).
Passes: pools fwd, bwd (argmax recomputed from x), bwd with indices; depthwise fwd, dgrad,
wgrad (with the bias grad) against torch.ops.aten.convolution_backward with the same outputs.

Timing: each op is captured 20 times into a CUDA graph (fastconv launches on the current stream,
so it captures like torch), and the graph's replay is timed with CUDA events, so Python's per-call
overhead is left out for both; where capture fails, eager calls are timed instead (the `mode`
column says which). Every output is compared with torch's once before timing (avg pool backward: with torch's NCHW
result, see pool_rows). Copy bandwidth:
torch's device-to-device copy of 1 GiB, bytes read + written. Pools report GB/s over their memory
floor (fastconv.testing.problems) and % of copy; every row reports torch ms / fastconv ms.

    python benchmarks/gpu_bench.py [--json FILE] [--reps 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Callable, Dict, List

import numpy as np

import fastconv as fc
from fastconv.testing.problems import POOL_PROBLEMS, PoolProblem, select

CAPTURED_CALLS = 20


def _torch():
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


class Timer:
    """Median GPU time of one call of fn, from CUDA events around a graph replay (or eager calls)."""

    def __init__(self, torch, fn: Callable[[], object]):
        self.torch = torch
        self.fn = fn
        self.graph = None
        self.mode = "graph"
        for _ in range(3):  # warm-up: allocator pools, cuDNN autotuning
            fn()
        torch.cuda.synchronize()
        try:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _ in range(CAPTURED_CALLS):
                    fn()
            g.replay()
            torch.cuda.synchronize()
            self.graph = g
        except Exception as exc:  # capture unsupported by an op: time eager calls
            self.mode = f"eager ({type(exc).__name__})"
            torch.cuda.synchronize()
        self.samples: List[float] = []

    def sample(self) -> None:
        torch = self.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        if self.graph is not None:
            self.graph.replay()
        else:
            for _ in range(CAPTURED_CALLS):
                self.fn()
        end.record()
        end.synchronize()
        self.samples.append(start.elapsed_time(end) / CAPTURED_CALLS)

    @property
    def ms(self) -> float:
        return statistics.median(self.samples)


def interleaved(torch, fns: Dict[str, Callable[[], object]], reps: int) -> Dict[str, Timer]:
    timers = {k: Timer(torch, f) for k, f in fns.items()}
    for _ in range(reps):
        for t in timers.values():
            t.sample()
    return timers


def copy_bandwidth(torch, reps: int) -> float:
    n = (1 << 30) // 4
    src = torch.empty(n, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    t = interleaved(torch, {"copy": lambda: dst.copy_(src)}, reps)["copy"]
    return 2 * 4 * n / (t.ms * 1e-3) / 1e9


def as_layout(torch, x, layout):
    """(fastconv's array, torch's tensor) for a logical NCHW tensor: NHWC = channels_last memory."""
    if layout == "NCHW":
        x = x.contiguous()
        return x, x
    xt = x.contiguous(memory_format=torch.channels_last)
    return xt.permute(0, 2, 3, 1), xt


def to_nchw(a, layout):
    return a if layout == "NCHW" else a.permute(0, 3, 1, 2)


def check(name, got, want, rtol=1e-4, atol=1e-4) -> str:
    ok = bool(np.allclose(got.detach().cpu().numpy(), want.detach().cpu().numpy(), rtol=rtol, atol=atol,
                          equal_nan=True))
    if not ok:
        err = (got - want).abs().max().item()
        print(f"  CHECK FAILED {name}: max abs error {err:.3g}", file=sys.stderr)
    return "ok" if ok else "FAIL"


def pool_rows(torch, prob: PoolProblem, layout: str, reps: int, copy_gbs: float) -> List[dict]:
    F = torch.nn.functional
    aten = torch.ops.aten
    x = torch.randn(prob.N, prob.C, prob.H, prob.W, device="cuda")
    xf, xt = as_layout(torch, x, layout)
    k, s, p = prob.kernel, prob.stride, prob.pad
    rows = []
    if prob.kind == "max":
        yt, it = F.max_pool2d(xt, k, s, p, return_indices=True)
        dyt = torch.randn_like(yt)
        dyf = dyt.permute(0, 2, 3, 1) if layout == "NHWC" else dyt
        yf, idxf = fc.max_pool2d(xf, k, s, p, return_indices=True, layout=layout)
        status = [check("max fwd", to_nchw(yf, layout), yt)]
        dx_t = aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1], False, it)
        status.append(check("max bwd", to_nchw(fc.max_pool2d_backward(dyf, xf, k, s, p, layout=layout), layout), dx_t))
        status.append(check("max bwd idx", to_nchw(fc.max_pool2d_backward(dyf, xf, k, s, p, indices=idxf,
                                                                          layout=layout), layout), dx_t))
        passes = {
            "fwd": (lambda: fc.max_pool2d(xf, k, s, p, layout=layout), lambda: F.max_pool2d(xt, k, s, p),
                    prob.bytes("fwd")),
            "bwd": (lambda: fc.max_pool2d_backward(dyf, xf, k, s, p, layout=layout),
                    lambda: aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1], False, it),
                    prob.bytes("bwd")),
            "bwd+idx": (lambda: fc.max_pool2d_backward(dyf, xf, k, s, p, indices=idxf, layout=layout),
                        lambda: aten.max_pool2d_with_indices_backward(dyt, xt, [k, k], [s, s], [p, p], [1, 1], False,
                                                                      it),
                        4 * prob.N * prob.C * (prob.P * prob.Q * 3 + prob.H * prob.W)),
        }
    else:
        yt = F.avg_pool2d(xt, k, s, p)
        dyt = torch.randn_like(yt)
        dyf = dyt.permute(0, 2, 3, 1) if layout == "NHWC" else dyt
        status = [check("avg fwd", to_nchw(fc.avg_pool2d(xf, k, s, p, layout=layout), layout), yt)]
        # The oracle is torch's backward on NCHW-contiguous tensors: its channels_last CUDA kernel
        # (torch 2.11, H200) gave results up to 1.07 away from its own CPU and NCHW results, which
        # agreed with each other and with fastconv's GPU and CPU paths to the bit.
        dx_t = aten.avg_pool2d_backward(dyt.contiguous(), x.contiguous(), [k, k], [s, s], [p, p], False, True, None)
        status.append(check("avg bwd", to_nchw(fc.avg_pool2d_backward(dyf, xf, k, s, p, layout=layout), layout), dx_t))
        if layout == "NHWC":
            dx_cl = aten.avg_pool2d_backward(dyt, xt, [k, k], [s, s], [p, p], False, True, None)
            err = (dx_cl - dx_t).abs().max().item()
            if err > 1e-4:
                print(f"  note: torch's channels_last avg_pool2d_backward differs from its NCHW result by up to "
                      f"{err:.3g} (timed all the same: it is what a channels_last model runs)", file=sys.stderr)
        passes = {
            "fwd": (lambda: fc.avg_pool2d(xf, k, s, p, layout=layout), lambda: F.avg_pool2d(xt, k, s, p),
                    prob.bytes("fwd")),
            "bwd": (lambda: fc.avg_pool2d_backward(dyf, xf, k, s, p, layout=layout),
                    lambda: aten.avg_pool2d_backward(dyt, xt, [k, k], [s, s], [p, p], False, True, None),
                    prob.bytes("bwd")),
        }
    check_all = "ok" if all(v == "ok" for v in status) else "FAIL"
    for name, (f_fc, f_t, nbytes) in passes.items():
        t = interleaved(torch, {"fastconv": f_fc, "torch": f_t}, reps)
        gbs = nbytes / (t["fastconv"].ms * 1e-3) / 1e9
        rows.append(dict(case=prob.name, layout=layout, pass_=name, fastconv_ms=t["fastconv"].ms,
                         torch_ms=t["torch"].ms, ratio=t["torch"].ms / t["fastconv"].ms, gbs=gbs,
                         pct_copy=100 * gbs / copy_gbs, mode=t["fastconv"].mode, check=check_all))
    return rows


def depthwise_rows(torch, N: int, layout: str, reps: int) -> List[dict]:
    F = torch.nn.functional
    aten = torch.ops.aten
    C, H, W = 128, 56, 56
    x = torch.randn(N, C, H, W, device="cuda")
    w = torch.randn(C, 1, 3, 3, device="cuda")
    b = torch.randn(C, device="cuda")
    xf, xt = as_layout(torch, x, layout)
    wf, wt = as_layout(torch, w, layout)
    yt = F.conv2d(xt, wt, b, 1, 1, 1, C)
    dyt = torch.randn_like(yt)
    dyf = dyt.permute(0, 2, 3, 1) if layout == "NHWC" else dyt

    def torch_bwd(mask):
        return lambda: aten.convolution_backward(dyt, xt, wt, [C], [1, 1], [1, 1], [1, 1], False, [0, 0], C, mask)

    def fc_bwd(needs):
        return lambda: fc.conv2d_backward(dyf, xf, wf, b, 1, 1, 1, C, needs_input_grad=needs, layout=layout)

    gx_t, gw_t, gb_t = torch_bwd([True, True, True])()
    gx, gw, gb = fc_bwd((True, True, True))()
    status = [check("dw fwd", to_nchw(fc.conv2d(xf, wf, b, 1, 1, 1, C, layout=layout), layout), yt),
              check("dw dgrad", to_nchw(gx, layout), gx_t),
              check("dw wgrad", to_nchw(gw, layout), gw_t, rtol=1e-3, atol=1e-2),
              check("dw bgrad", gb, gb_t, rtol=1e-3, atol=1e-2)]
    check_all = "ok" if all(v == "ok" for v in status) else "FAIL"
    passes = {
        "fwd": (lambda: fc.conv2d(xf, wf, b, 1, 1, 1, C, layout=layout), lambda: F.conv2d(xt, wt, b, 1, 1, 1, C)),
        "dgrad": (fc_bwd((True, False, False)), torch_bwd([True, False, False])),
        "wgrad": (fc_bwd((False, True, True)), torch_bwd([False, True, True])),
    }
    rows = []
    for name, (f_fc, f_t) in passes.items():
        t = interleaved(torch, {"fastconv": f_fc, "torch": f_t}, reps)
        rows.append(dict(case=f"depthwise.3x3.N{N}", layout=layout, pass_=name, fastconv_ms=t["fastconv"].ms,
                         torch_ms=t["torch"].ms, ratio=t["torch"].ms / t["fastconv"].ms, gbs=None, pct_copy=None,
                         mode=t["fastconv"].mode, check=check_all))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write every row as JSON here")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    if not fc.cuda_available():
        print("gpu_bench: needs a CUDA build of fastconv and a GPU", file=sys.stderr)
        return 2
    torch = _torch()
    dev = torch.cuda.get_device_name()
    copy_gbs = copy_bandwidth(torch, args.reps)
    print(f"device: {dev}; torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, fp32 (TF32 off)")
    print(f"copy bandwidth (device to device, read + write): {copy_gbs:.0f} GB/s")
    pools = select(["maxpool"], POOL_PROBLEMS)
    pools.append(PoolProblem("avgpool.3x3.s2", "avg", N=8, C=64, H=112, W=112, kernel=3, stride=2, pad=1))
    rows: List[dict] = []
    for layout in ("NCHW", "NHWC"):
        for prob in pools:
            rows += pool_rows(torch, prob, layout, args.reps, copy_gbs)
        rows += depthwise_rows(torch, 64, layout, args.reps)
    print(f"{'case':<20} {'layout':<6} {'pass':<8} {'fastconv ms':>11} {'torch ms':>9} {'torch/fc':>8} "
          f"{'GB/s':>7} {'%copy':>6} {'check':>5}  mode")
    for r in rows:
        gbs = f"{r['gbs']:.0f}" if r["gbs"] is not None else "-"
        pct = f"{r['pct_copy']:.0f}" if r["pct_copy"] is not None else "-"
        print(f"{r['case']:<20} {r['layout']:<6} {r['pass_']:<8} {r['fastconv_ms']:>11.4f} {r['torch_ms']:>9.4f} "
              f"{r['ratio']:>8.2f} {gbs:>7} {pct:>6} {r['check']:>5}  {r['mode']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=dev, torch=torch.__version__, copy_gbs=copy_gbs, rows=rows), f, indent=1)
    return 1 if any(r["check"] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
