"""A small conv2d workload for compute-sanitizer (memcheck, racecheck): every implicit-GEMM pass and
tile shape, both layouts, stride phases without taps, groups and a split-K wgrad, on small shapes.

    compute-sanitizer --tool memcheck --error-exitcode 9 python benchmarks/gpu_conv_sanitize.py [--quick]

--quick: the first three cases only (racecheck is slow).
"""

import sys

import numpy as np

import fastconv as fc

# N, C, H, W, K, R, S, stride, padding, dilation, groups
CASES = [
    (2, 3, 11, 10, 5, 3, 3, 1, 1, 1, 1),
    (1, 1, 12, 12, 32, 3, 3, 1, 0, 1, 1),
    (2, 8, 9, 9, 6, 1, 1, 2, 0, 1, 1),
    (1, 12, 13, 12, 18, 3, 3, 2, 1, 2, 3),
    (2, 16, 10, 9, 24, 4, 4, 1, "same", 1, 4),
    (4, 64, 16, 16, 136, 3, 3, 1, 1, 1, 1),
]


def main():
    try:
        import cupy as xp

        def dev(a):
            return xp.asarray(a)

        def sync():
            xp.cuda.get_current_stream().synchronize()
    except ImportError:
        import torch as xp

        def dev(a):
            return xp.from_numpy(np.ascontiguousarray(a)).cuda()

        def sync():
            xp.cuda.synchronize()

    rng = np.random.default_rng(0)
    cases = CASES[:3] if "--quick" in sys.argv else CASES
    for N, C, H, W, K, R, S, stride, padding, dilation, groups in cases:
        for layout in ("NCHW", "NHWC"):
            x = rng.standard_normal((N, C, H, W)).astype(np.float32)
            w = rng.standard_normal((K, C // groups, R, S)).astype(np.float32)
            b = rng.standard_normal(K).astype(np.float32)
            if layout == "NHWC":
                x, w = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(0, 2, 3, 1))
            args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, layout=layout,
                        algorithm="implicit_gemm")
            y = fc.conv2d(dev(x), dev(w), dev(b), **args)
            dy = dev(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            fc.conv2d_backward(dy, dev(x), dev(w), dev(b), **args)
            sync()
    print("gpu_conv_sanitize: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
