"""conv2d on the GPU: fastconv's kernels against cuDNN through PyTorch, side by side in one process.

For each case of the layer suite (BENCHMARKS.md; ResNet rows at N x 8), each layout and each pass
(fprop, dgrad, wgrad) it validates fastconv's result against cuDNN fp32 once, then times both with
CUDA events, interleaved (A B A B ...), and reports medians and the ratio cuDNN / fastconv (> 1:
fastconv is faster). cuDNN runs in fp32 (torch.backends.cudnn.allow_tf32 = False); its TF32 time is
measured too and reported in its own, labelled column. Also checks that fastconv's results are the
same bits on a second run.

    python benchmarks/gpu_conv_bench.py [--reps 20] [--layouts NCHW,NHWC] [--cases resnet] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys

import numpy as np

# name, N, C, K, H=W, kernel, stride, pad, groups
CASES = [
    ("seed.conv1", 64, 1, 32, 28, 3, 1, 0, 1),
    ("seed.conv2", 64, 32, 64, 13, 3, 1, 0, 1),
    ("seed.conv3", 64, 64, 64, 5, 3, 1, 0, 1),
    ("resnet.3x3.56", 64, 64, 64, 56, 3, 1, 1, 1),
    ("resnet.3x3.28", 64, 128, 128, 28, 3, 1, 1, 1),
    ("resnet.3x3.14", 64, 256, 256, 14, 3, 1, 1, 1),
    ("resnet.1x1.56", 64, 256, 64, 56, 1, 1, 0, 1),
    ("resnet.3x3.s2", 64, 64, 128, 56, 3, 2, 1, 1),
    ("resnet.1x1.s2", 64, 256, 128, 56, 1, 2, 0, 1),
    ("stem.7x7.s2", 4, 3, 64, 224, 7, 2, 3, 1),
    ("depthwise.3x3", 8, 128, 128, 56, 3, 1, 1, 128),
]
PASSES = ("fprop", "dgrad", "wgrad")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--layouts", default="NCHW,NHWC")
    ap.add_argument("--cases", default="", help="substring filter on case names")
    ap.add_argument("--out", default=os.environ.get("OUT", ""))
    args = ap.parse_args(argv)

    import torch

    import fastconv as fc

    if not (torch.cuda.is_available() and fc.cuda_available()):
        print("gpu_conv_bench: needs a GPU, torch with CUDA and a CUDA build of fastconv")
        return 1
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    card = torch.cuda.get_device_name(0)
    rows, failures = [], []

    def time_pair(fa, fb, reps):
        """Interleaved CUDA-event timings of fa and fb; medians in ms."""
        for _ in range(3):
            fa(), fb()
        torch.cuda.synchronize()
        ta, tb = [], []
        for _ in range(reps):
            for f, acc in ((fa, ta), (fb, tb)):
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                f()
                e1.record()
                e1.synchronize()
                acc.append(e0.elapsed_time(e1))
        return statistics.median(ta), statistics.median(tb)

    def time_one(f, reps):
        for _ in range(3):
            f()
        torch.cuda.synchronize()
        ts = []
        for _ in range(reps):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            f()
            e1.record()
            e1.synchronize()
            ts.append(e0.elapsed_time(e1))
        return statistics.median(ts)

    for name, N, C, K, HW, k, s, p, g in CASES:
        if args.cases and args.cases not in name:
            continue
        P = (HW + 2 * p - k) // s + 1
        flops = 2.0 * N * K * P * P * (C // g) * k * k
        gen = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(N, C, HW, HW, generator=gen).to(dev)
        w = torch.randn(K, C // g, k, k, generator=gen).to(dev)
        dy = torch.randn(N, K, P, P, generator=gen).to(dev)
        for layout in args.layouts.split(","):
            if layout == "NHWC":
                xl, wl, dyl = (t.permute(0, 2, 3, 1).contiguous() for t in (x, w, dy))
                xt, wt, dyt = (t.contiguous(memory_format=torch.channels_last) for t in (x, w, dy))
            else:
                xl, wl, dyl = x, w, dy
                xt, wt, dyt = x, w, dy

            def as_logical(t):
                return t.permute(0, 3, 1, 2) if layout == "NHWC" else t

            ours = {
                "fprop": lambda: fc.conv2d(xl, wl, None, s, p, 1, g, layout=layout),
                "dgrad": lambda: fc.conv2d_backward(dyl, xl, wl, None, s, p, 1, g, layout=layout,
                                                    needs_input_grad=(True, False, False))[0],
                "wgrad": lambda: fc.conv2d_backward(dyl, xl, wl, None, s, p, 1, g, layout=layout,
                                                    needs_input_grad=(False, True, False))[1],
            }
            conv_bwd = torch.ops.aten.convolution_backward
            theirs = {
                "fprop": lambda: torch.nn.functional.conv2d(xt, wt, None, s, p, 1, g),
                "dgrad": lambda: conv_bwd(dyt, xt, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], g,
                                          [True, False, False])[0],
                "wgrad": lambda: conv_bwd(dyt, xt, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], g,
                                          [False, True, False])[1],
            }
            for ps in PASSES:
                row = {"case": name, "layout": layout, "pass": ps, "gflop": flops / 1e9}
                try:
                    torch.backends.cudnn.allow_tf32 = False
                    a = ours[ps]()
                    b = theirs[ps]()
                    a_logical = as_logical(a)
                    diff = (a_logical.double() - b.double()).abs().max().item()
                    scale = max(1.0, b.double().abs().max().item())
                    L = {"fprop": (C // g) * k * k, "dgrad": (K // g) * k * k, "wgrad": N * P * P}[ps]
                    # two fp32 results of different summation orders (cuDNN may pick Winograd or FFT)
                    tol = 32 * np.finfo(np.float32).eps * math.sqrt(L) * scale
                    row["max_abs_err"] = diff
                    row["valid"] = bool(diff <= tol)
                    again = ours[ps]()
                    row["same_bits"] = bool(torch.equal(a, again))
                    t_ours, t_cudnn = time_pair(ours[ps], theirs[ps], args.reps)
                    torch.backends.cudnn.allow_tf32 = True
                    t_tf32 = time_one(theirs[ps], args.reps)
                    torch.backends.cudnn.allow_tf32 = False
                    row.update(ms=t_ours, cudnn_ms=t_cudnn, cudnn_tf32_ms=t_tf32, ratio=t_cudnn / t_ours,
                               ratio_tf32=t_tf32 / t_ours, tflops=flops / t_ours / 1e9)
                    if not row["valid"] or not row["same_bits"]:
                        failures.append(f"{name} {layout} {ps}: valid={row['valid']} same_bits={row['same_bits']}")
                except Exception as e:  # one failing case must not hide the rest of the table
                    row["error"] = f"{type(e).__name__}: {e}"
                    failures.append(f"{name} {layout} {ps}: {row['error']}")
                rows.append(row)
                print(json.dumps(row), flush=True)
        del x, w, dy
        torch.cuda.empty_cache()

    lines = [f"conv2d on {card}: fastconv vs cuDNN fp32 (allow_tf32=False) and, labelled, cuDNN TF32; "
             f"medians of {args.reps} interleaved runs; ratio > 1: fastconv faster",
             "| case | layout | pass | fastconv ms | TFLOP/s | cuDNN fp32 ms | ratio fp32 | cuDNN TF32 ms | "
             "ratio vs TF32 | max abs err | same bits |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['layout']} | {r['pass']} | error: {r['error'][:80]} |")
            continue
        lines.append(f"| {r['case']} | {r['layout']} | {r['pass']} | {r['ms']:.3f} | {r['tflops']:.2f} | "
                     f"{r['cudnn_ms']:.3f} | {r['ratio']:.2f} | {r['cudnn_tf32_ms']:.3f} | {r['ratio_tf32']:.2f} | "
                     f"{r['max_abs_err']:.2e} | {r['same_bits']} |")
    table = "\n".join(lines)
    print(table)
    if failures:
        print("FAILURES:\n  " + "\n  ".join(failures))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu_conv_bench.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(args.out, "gpu_conv_bench.json"), "w") as f:
            json.dump({"card": card, "rows": rows}, f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
