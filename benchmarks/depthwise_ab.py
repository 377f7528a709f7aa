"""Depthwise 3x3 NHWC (Nx56x56x128, N = 8 unless given) before/after: two builds' _C extensions in one process.

    PYTHONPATH=python python benchmarks/depthwise_ab.py OTHER_BUILD/_C...so [threads] [reps] [cpu|wall] [N]

Times fwd (with bias), dx, dw and bwd (dx + dw + db) of this checkout's fastconv._C ("new") and of
the _C at the given path ("old", e.g. a build of an earlier commit), alternating which goes first,
interleaved with PyTorch, into preallocated 64-byte aligned outputs; medians. The ratio old/new is
measured under the same machine load, which on a shared machine moves all three. Also checks that
both give the same bits.
"""
import os, sys, time, statistics, importlib.util
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np, torch
import fastconv as fc
from fastconv import _C as new
from fastconv._conv2d import check_conv2d
from fastconv._arrays import aligned_empty
spec = importlib.util.spec_from_file_location("_C", sys.argv[1])
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 21
clock = time.perf_counter if (len(sys.argv) > 4 and sys.argv[4] == "wall") else time.process_time
torch.set_num_threads(threads); fc.set_num_threads(threads); old.set_num_threads(threads)
rng = np.random.default_rng(0)
N, C, H, W = int(sys.argv[5]) if len(sys.argv) > 5 else 8, 128, 56, 56
x = rng.standard_normal((N, H, W, C)).astype(np.float32)
dy = rng.standard_normal((N, H, W, C)).astype(np.float32)
w = rng.standard_normal((C, 3, 3, 1)).astype(np.float32)
b = rng.standard_normal(C).astype(np.float32)
prob = check_conv2d("conv2d", x, w, b, 1, 1, 1, C, "NHWC", "auto")
args = prob.kernel_args()
y = aligned_empty((N, H, W, C), np.float32); yl = y.transpose(0, 3, 1, 2)
dx = aligned_empty((N, H, W, C), np.float32); dxl = dx.transpose(0, 3, 1, 2)
dyl = dy.transpose(0, 3, 1, 2)
dw = np.empty((C, 3, 3, 1), np.float32); dwl = dw.transpose(0, 3, 1, 2)
db = np.empty(C, np.float32)
xt = torch.from_numpy(x).permute(0, 3, 1, 2); dyt = torch.from_numpy(dy).permute(0, 3, 1, 2)
wt = torch.from_numpy(w).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last); bt = torch.from_numpy(b)
aten = torch.ops.aten
def ours(m, name):
    if name == "fwd": return lambda: m.conv2d_fprop(prob.x, prob.w, prob.b, yl, *args)
    if name == "dx": return lambda: m.conv2d_backward(dyl, prob.x, prob.w, dxl, None, None, *args)
    if name == "dw": return lambda: m.conv2d_backward(dyl, prob.x, prob.w, None, dwl, None, *args)
    return lambda: m.conv2d_backward(dyl, prob.x, prob.w, dxl, dwl, db, *args)
def theirs(name):
    needs = {"fwd": None, "dx": (True, False, False), "dw": (False, True, False), "bwd": (True, True, True)}[name]
    if needs is None: return lambda: torch.conv2d(xt, wt, bt, 1, 1, 1, C)
    return lambda: aten.convolution_backward(dyt, xt, wt, [C], [1, 1], [1, 1], [1, 1], False, [0, 0], C, list(needs))
res = {}
for name in ("fwd", "dx", "dw", "bwd"):
    fo, fn, ft = ours(old, name), ours(new, name), theirs(name)
    fn(); ref = [a.copy() for a in (y, dx, dw, db)]; fo()
    same = all(np.array_equal(r, a, equal_nan=True) for r, a in zip(ref, (y, dx, dw, db)))
    to, tn, tt = [], [], []
    for i in range(reps):
        for f, acc in ((fo, to), (fn, tn), (ft, tt)) if i % 2 == 0 else ((fn, tn), (fo, to), (ft, tt)):
            s = clock(); f(); acc.append(clock() - s)
    mo, mn, mt = (statistics.median(a) * 1e3 for a in (to, tn, tt))
    print(f"{name:3s} old {mo:6.3f}  new {mn:6.3f} ms  ({mo / mn:4.2f}x)  torch {mt:6.3f}: old {mt / mo:4.2f}x new {mt / mn:4.2f}x  same bits {same}", flush=True)
