"""fastconv as a PyTorch backend: per-call overhead of the custom-op path, and a ResNet-18 training step.

    python benchmarks/torch_backend_bench.py [--threads 2] [--batch 8] [--size 64] [--steps 7]

1. Overhead: tiny float32 problems, where the kernels take a few microseconds, timed in one process
   with the variants interleaved (medians of many rounds, 1 thread):
   ``fastconv.conv2d`` on the torch tensors directly, ``torch.ops.fastconv.conv2d`` (the custom op),
   ``fastconv.torch.conv2d`` (its torch.nn.functional-style wrapper), the same with inputs that
   require grad (autograd records the node), and ``torch.nn.functional.conv2d``; likewise the pools.
2. Training: torchvision's ResNet-18 structure (fastconv.testing.torch_models.ResNet18, width 64) at
   batch x 3 x size x size, one SGD step (zero_grad, forward, cross-entropy, backward, step), stock
   torch and the converted copy alternating, NCHW and channels_last; medians.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import subprocess
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's spinning OpenMP workers would steal fastconv's core

import torch  # noqa: E402

import fastconv as fc  # noqa: E402
import fastconv.torch as fct  # noqa: E402
from fastconv.testing.torch_models import ResNet18  # noqa: E402

F = torch.nn.functional


def _interleaved(fns, rounds: int, inner: int):
    """Median seconds per call of each fn, the fns run in turn each round."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(inner):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t) / inner)
    return {name: statistics.median(v) for name, v in times.items()}


def overhead(rounds: int) -> None:
    torch.set_num_threads(1)
    fc.set_num_threads(1)
    x = torch.randn(1, 4, 8, 8)
    w = torch.randn(4, 4, 3, 3)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    p = torch.randn(1, 4, 8, 8)
    pg = p.clone().requires_grad_()
    ops = torch.ops.fastconv
    cases = {
        "conv2d (1,4,8,8) * (4,4,3,3), padding 1": {
            "fastconv.conv2d direct": lambda: fc.conv2d(x, w, None, 1, 1),
            "torch.ops.fastconv.conv2d": lambda: ops.conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1),
            "fastconv.torch.conv2d": lambda: fct.conv2d(x, w, None, 1, 1),
            "fastconv.torch.conv2d, requires_grad": lambda: fct.conv2d(xg, wg, None, 1, 1),
            "torch.nn.functional.conv2d": lambda: F.conv2d(x, w, None, 1, 1),
            "torch.nn.functional.conv2d, requires_grad": lambda: F.conv2d(xg, wg, None, 1, 1),
        },
        "max_pool2d (1,4,8,8), 2x2": {
            "fastconv.max_pool2d direct": lambda: fc.max_pool2d(p, 2),
            "torch.ops.fastconv.max_pool2d": lambda: ops.max_pool2d(p, [2, 2], [2, 2], [0, 0], [1, 1], False),
            "fastconv.torch.max_pool2d": lambda: fct.max_pool2d(p, 2),
            "fastconv.torch.max_pool2d, requires_grad": lambda: fct.max_pool2d(pg, 2),
            "torch.nn.functional.max_pool2d": lambda: F.max_pool2d(p, 2),
            "torch.nn.functional.max_pool2d, requires_grad": lambda: F.max_pool2d(pg, 2),
        },
        "avg_pool2d (1,4,8,8), 2x2": {
            "fastconv.avg_pool2d direct": lambda: fc.avg_pool2d(p, 2),
            "torch.ops.fastconv.avg_pool2d": lambda: ops.avg_pool2d(p, [2, 2], [2, 2], [0, 0], False, True, None),
            "fastconv.torch.avg_pool2d": lambda: fct.avg_pool2d(p, 2),
            "torch.nn.functional.avg_pool2d": lambda: F.avg_pool2d(p, 2),
        },
    }
    print("\n## Per-call time, tiny float32 tensors, 1 thread (median us per call; forward only)\n")
    print(f"{'call':48s} {'us':>8s} {'vs direct':>10s}")
    for title, fns in cases.items():
        with torch.no_grad():
            t = _interleaved({k: v for k, v in fns.items() if "requires_grad" not in k}, rounds, 50)
        t.update(_interleaved({k: v for k, v in fns.items() if "requires_grad" in k}, rounds, 50))
        direct = next(v for k, v in t.items() if "direct" in k)
        print(f"\n{title}")
        for name in fns:
            print(f"  {name:46s} {t[name] * 1e6:8.1f} {t[name] * 1e6 - direct * 1e6:+10.1f}")


def train_step_time(threads: int, batch: int, size: int, steps: int) -> None:
    torch.set_num_threads(threads)
    fc.set_num_threads(threads)
    torch.manual_seed(0)
    stock = ResNet18(width=64, num_classes=10)
    ours = copy.deepcopy(stock)
    report = fct.convert(ours)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, size, size, generator=g)
    target = torch.randint(0, 10, (batch,), generator=g)
    print(f"\n## ResNet-18 (width 64) SGD step, batch {batch} x 3 x {size} x {size}, float32, {threads} threads "
          f"(median s per step of {steps}, alternating)\n")
    print(f"converted: {len(report)} modules ({sum(n.startswith('layer') for n, _, _ in report)} inside the "
          f"residual stages), skipped: {report.skipped}")
    for fmt_name, fmt in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        models = {"stock torch": stock.to(memory_format=fmt), "fastconv.torch": ours.to(memory_format=fmt)}
        xf = x.contiguous(memory_format=fmt)
        opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}

        def step(name):
            def run():
                opts[name].zero_grad()
                F.cross_entropy(models[name](xf), target).backward()
                opts[name].step()
            return run

        t = _interleaved({name: step(name) for name in models}, steps, 1)
        ratio = t["stock torch"] / t["fastconv.torch"]
        print(f"{fmt_name:14s} stock torch {t['stock torch'] * 1e3:8.1f} ms   fastconv.torch "
              f"{t['fastconv.torch'] * 1e3:8.1f} ms   torch/fastconv {ratio:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    info = fc.build_info()
    print(f"# fastconv.torch benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"fastconv {info.get('version')} ({info.get('isa_selected', info.get('cpu_isa_selected', ''))}), "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if not args.skip_overhead:
        overhead(args.rounds)
    if not args.skip_train:
        train_step_time(args.threads, args.batch, args.size, args.steps)
    print(f"\nload after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
