"""Calls every CUDA kernel of fastconv once on small problems, for compute-sanitizer (memcheck,
racecheck) in benchmarks/gpu_check.sh. Shapes cover padding, ceil_mode, dilation, both layouts, the
depthwise wgrad's idle channel lanes (channels-last K not a multiple of 32), several tap rounds
(R*S > 9) and several pixel chunks. Uses CuPy when installed, else PyTorch.

    compute-sanitizer --tool memcheck python benchmarks/gpu_sanitize.py
"""

import os
import sys

import numpy as np

import fastconv as fc


def device_library():
    """CuPy (or torch) with its memory pool off, so that every array is its own allocation and an
    access past its end is one the sanitizer sees."""
    try:
        import cupy

        cupy.cuda.set_allocator(None)
        return "cupy", cupy.asarray, lambda: cupy.cuda.get_current_stream().synchronize()
    except ImportError:
        os.environ.setdefault("PYTORCH_NO_CUDA_MEMORY_CACHING", "1")
        import torch

        return "torch", lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda(), torch.cuda.synchronize


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def main() -> int:
    if not fc.cuda_available():
        print("gpu_sanitize: no CUDA build or no GPU", file=sys.stderr)
        return 2
    name, dev, sync = device_library()
    rng = np.random.default_rng(0)
    calls = 0
    for layout in ("NCHW", "NHWC"):
        x = rng.standard_normal((2, 5, 9, 7)).astype(np.float32)
        xs = dev(nhwc(x) if layout == "NHWC" else x)
        pool = dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True, layout=layout)
        y, idx = fc.max_pool2d(xs, return_indices=True, **pool)
        dy = dev(rng.standard_normal(tuple(y.shape)).astype(np.float32))
        fc.max_pool2d(xs, **pool)
        fc.max_pool2d_backward(dy, xs, indices=idx, **pool)
        fc.max_pool2d_backward(dy, xs, **pool)
        avg = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, ceil_mode=True, count_include_pad=False, layout=layout)
        ya = fc.avg_pool2d(xs, **avg)
        fc.avg_pool2d_backward(dev(rng.standard_normal(tuple(ya.shape)).astype(np.float32)), xs, **avg)
        calls += 6
        for (N, C, M, H, W, R, S) in ((2, 5, 1, 9, 7, 3, 3), (3, 20, 2, 40, 41, 3, 3), (1, 3, 1, 8, 8, 5, 5)):
            x = rng.standard_normal((N, C, H, W)).astype(np.float32)
            w = rng.standard_normal((C * M, 1, R, S)).astype(np.float32)
            b = dev(rng.standard_normal(C * M).astype(np.float32))
            xs = dev(nhwc(x) if layout == "NHWC" else x)
            ws = dev(nhwc(w) if layout == "NHWC" else w)
            conv = dict(stride=1, padding=R // 2, dilation=1, groups=C, layout=layout)
            y = fc.conv2d(xs, ws, b, **conv)
            dy = dev(rng.standard_normal(tuple(y.shape)).astype(np.float32))
            fc.conv2d_backward(dy, xs, ws, b, **conv)
            fc.conv2d_backward(dy, xs, ws, b, needs_input_grad=(False, False, True), **conv)
            calls += 3
    sync()
    print(f"gpu_sanitize: {calls} op calls through {name} completed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
