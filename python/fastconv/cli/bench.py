"""``fastconv bench``: the layer suite of BENCHMARKS.md, validated once, then timed side by side.

For each case and pass (``fwd``; ``bwd`` = dx, dw and db together):

1. fastconv's outputs are checked once against the float64 NumPy reference
   (``fastconv.testing.reference``): ``|out - ref| <= rtol * (|ref| + rms(ref))`` with
   ``rtol = TOL_C * eps(float32) * sqrt(L)``, L the reduction length of that output;
   max-pool forward values must match exactly.
2. fastconv, PyTorch CPU (when ``import torch`` works; same thread count) and a float32 NumPy
   im2col baseline run interleaved in one process (A B C A B C ...) after warm-up calls; each
   measurement stops after ``--repeat`` runs or once it has spent its time budget (at least 3 runs,
   NumPy at most 3). Medians are reported.

The table goes to stdout, progress to stderr. Exit status 1 when any validation fails.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import math
import os
import platform
import statistics
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

# |out - ref| <= TOL_C * eps * sqrt(L) * (|ref| + rms(ref)): PyTorch's own float32 results stay
# within 1/8 of this on the suite (max err/tol 0.1-0.2 with TOL_C = 16).
TOL_C = 16.0
EPS32 = float(np.finfo(np.float32).eps)

# Per-measurement time budgets (seconds) and repeat caps.
BUDGET_S = 0.5
QUICK_BUDGET_S = 0.1
DEFAULT_REPEAT = 20
QUICK_REPEAT = 5
MIN_RUNS = 3            # before a measurement may stop on its time budget
NUMPY_MAX_RUNS = 3      # the NumPy baseline is slow: a few runs are enough for its median
NUMPY_MAX_BYTES = 2 << 30  # skip the NumPy baseline where its im2col matrix would exceed this
QUICK_BATCH_DIV = 8     # --quick divides N by this (at least 1)

IMPLS = ("fastconv", "torch", "numpy")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="benchmark the layer suite against PyTorch and NumPy",
        description="Validate fastconv on each case of the layer suite against the float64 NumPy reference, "
                    "then time it interleaved with PyTorch CPU (if installed) and a float32 NumPy im2col "
                    "baseline. Table on stdout, progress on stderr; exit status 1 if a validation fails.")
    p.add_argument("--case", action="append", default=[], metavar="SUBSTR",
                   help="only cases whose name contains SUBSTR (repeatable: any of them)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for fastconv and torch (default: fastconv's default, the usable cores)")
    p.add_argument("--layout", type=str.upper, choices=("NCHW", "NHWC"), default="NCHW",
                   help="memory layout of inputs, weights (KCRS / KRSC) and outputs (default NCHW)")
    p.add_argument("--repeat", type=int, metavar="K",
                   help=f"most timed runs per measurement (default {DEFAULT_REPEAT}, {QUICK_REPEAT} with --quick); "
                        f"a measurement stops earlier once it has spent ~{BUDGET_S} s and has {MIN_RUNS} runs")
    p.add_argument("--json", metavar="FILE", help="also write the results and the machine's details as JSON")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: batch N / {QUICK_BATCH_DIV}, {QUICK_REPEAT} runs, "
                        f"~{QUICK_BUDGET_S} s per measurement")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.set_defaults(run=run)


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    case: str
    op: str                    # "conv", "max_pool", "avg_pool"
    pass_: str                 # "fwd" or "bwd"
    shape: str
    check: str = "-"           # "ok", "FAIL", "ERROR"
    err_over_tol: Optional[float] = None
    work: float = 0.0          # FLOP (conv) or bytes (pool)
    ms: Dict[str, Optional[float]] = field(default_factory=lambda: {k: None for k in IMPLS})
    runs: Dict[str, int] = field(default_factory=lambda: {k: 0 for k in IMPLS})
    note: str = ""

    def ratio(self, impl: str) -> Optional[float]:
        mine, theirs = self.ms["fastconv"], self.ms[impl]
        if mine is None or theirs is None or mine <= 0:
            return None
        return theirs / mine

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        d["ratio_torch"] = self.ratio("torch")
        d["ratio_numpy"] = self.ratio("numpy")
        return d


class Progress:
    """One progress line on stderr (rewritten in place on a terminal, one line per case elsewhere)."""

    def __init__(self, total: int):
        self.total = total
        self.tty = sys.stderr.isatty()
        self.last_case = None

    def update(self, i: int, case: str, stage: str) -> None:
        text = f"[{i}/{self.total}] {case}: {stage}"
        if self.tty:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
        elif case != self.last_case:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        self.last_case = case

    def message(self, text: str) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


# --------------------------------------------------------------------------- validation


def compare(out, ref: np.ndarray, L: int, exact: bool = False) -> float:
    """max |out - ref| / tol over all elements (<= 1 passes; inf on NaN, Inf or a shape mismatch)."""
    out = np.asarray(out, dtype=np.float64)
    if out.shape != ref.shape:
        return math.inf
    if out.size == 0:
        return 0.0
    if not np.all(np.isfinite(out) == np.isfinite(ref)):
        return math.inf
    fin = np.isfinite(ref)
    if not np.array_equal(out[~fin], ref[~fin]):
        return math.inf
    err = np.abs(out[fin] - ref[fin])
    if exact:
        return 0.0 if not err.size or err.max() == 0 else math.inf
    r = np.abs(ref[fin])
    rms = math.sqrt(float(np.mean(r * r))) if r.size else 0.0
    tol = TOL_C * EPS32 * math.sqrt(max(L, 1)) * (r + rms) + np.finfo(np.float64).tiny
    return float(np.max(err / tol)) if err.size else 0.0


def _nchw(a: np.ndarray, layout: str) -> np.ndarray:
    """The logical (N, C, H, W) view the reference takes (weights: (K, C/G, R, S))."""
    return a if layout == "NCHW" else a.transpose(0, 3, 1, 2)


# --------------------------------------------------------------------------- timing


def time_interleaved(fns: Dict[str, Callable[[], Any]], *, repeat: int, budget: float, warmup: int,
                     max_runs: Optional[Dict[str, int]] = None, skip_warmup: Sequence[str] = ()
                     ) -> Dict[str, List[float]]:
    """Run each function in turn (A B C A B C ...) and return the seconds of each run.

    ``warmup`` untimed rounds first (a function slower than budget/2 is warmed once; those in
    ``skip_warmup`` are already warm). A function stops when it has ``repeat`` (or its
    ``max_runs``) runs, or ``MIN_RUNS`` runs and ``budget`` seconds, or any runs and 4x ``budget``.
    """
    max_runs = max_runs or {}
    for name, fn in fns.items():
        if name in skip_warmup:
            continue
        for _ in range(max(warmup, 0)):
            t0 = time.perf_counter()
            fn()
            if time.perf_counter() - t0 > budget / 2:
                break
    times: Dict[str, List[float]] = {name: [] for name in fns}
    active = list(fns)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while active:
            for name in list(active):
                t0 = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - t0)
                runs, spent = len(times[name]), sum(times[name])
                cap = min(repeat, max_runs.get(name, repeat))
                if runs >= cap or (runs >= min(MIN_RUNS, cap) and spent >= budget) or spent >= 4 * budget:
                    active.remove(name)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


# --------------------------------------------------------------------------- cases


@dataclass
class Context:
    fc: Any
    reference: Any
    baseline: Any
    torch: Any
    layout: str
    repeat: int
    budget: float
    warmup: int
    progress: Progress
    index: int = 0


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _torch_view(torch, a: np.ndarray, layout: str):
    """A torch tensor sharing `a`'s memory, NCHW-logical (channels_last strides for NHWC)."""
    t = torch.from_numpy(a)
    return t.permute(0, 3, 1, 2) if layout == "NHWC" and t.dim() == 4 else t


def _time_row(row: Row, ctx: Context, fns: Dict[str, Optional[Callable[[], Any]]], numpy_note: str = "") -> None:
    fns = {k: v for k, v in fns.items() if v is not None}
    ctx.progress.update(ctx.index, row.case, f"timing {row.pass_} ({', '.join(fns)})")
    times = time_interleaved(fns, repeat=ctx.repeat, budget=ctx.budget, warmup=ctx.warmup,
                             max_runs={"numpy": NUMPY_MAX_RUNS}, skip_warmup=("numpy",))
    for name, ts in times.items():
        row.ms[name] = 1e3 * statistics.median(ts) if ts else None
        row.runs[name] = len(ts)
    if numpy_note:
        row.note = (row.note + "; " if row.note else "") + numpy_note


def _fail(row: Row, ctx: Context, exc: BaseException) -> None:
    row.check = "ERROR"
    row.note = f"{type(exc).__name__}: {exc}"
    ctx.progress.message(f"{row.case} {row.pass_}: {row.note}")


def bench_conv(prob, ctx: Context) -> List[Row]:
    fc, ref, nb, torch, layout = ctx.fc, ctx.reference, ctx.baseline, ctx.torch, ctx.layout
    rng = _rng(prob.name)
    x = rng.standard_normal(prob.x_shape(layout), dtype=np.float32)
    w = (rng.standard_normal(prob.w_shape(layout), dtype=np.float32) / np.float32(math.sqrt(prob.fprop_reduction)))
    b = (0.1 * rng.standard_normal(prob.K, dtype=np.float32))
    dy = rng.standard_normal(prob.y_shape(layout), dtype=np.float32)
    s, p, g = prob.stride, prob.pad, prob.groups
    shape = (f"{prob.N}x{prob.C}x{prob.H}x{prob.W} -> {prob.K} k{prob.kernel} s{s} p{p}"
             + (f" g{g}" if g > 1 else ""))
    xl, wl, dyl = _nchw(x, layout), _nchw(w, layout), _nchw(dy, layout)

    numpy_ok = nb.im2col_bytes(prob.N, prob.C, prob.P, prob.Q, prob.kernel) <= NUMPY_MAX_BYTES
    numpy_note = "" if numpy_ok else "numpy skipped: im2col matrix too large"
    if torch is not None:
        xt, wt, bt, dyt = (_torch_view(torch, a, layout) for a in (x, w, b, dy))
        F = torch.nn.functional
        aten = torch.ops.aten

    rows = []
    # forward
    row = Row(prob.name, "conv", "fwd", shape, work=float(prob.fprop_flops))
    rows.append(row)
    fwd = lambda: fc.conv2d(x, w, b, s, p, 1, g, layout=layout)  # noqa: E731
    try:
        ctx.progress.update(ctx.index, prob.name, "validating fwd")
        y = fwd()
        row.err_over_tol = compare(_nchw(y, layout), ref.conv2d(xl, wl, b, s, p, 1, g), prob.fprop_reduction)
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        _time_row(row, ctx, {
            "fastconv": fwd,
            "torch": (lambda: F.conv2d(xt, wt, bt, s, p, 1, g)) if torch is not None else None,
            "numpy": (lambda: nb.conv2d(x, w, b, s, p, g, layout)) if numpy_ok else None,
        }, numpy_note)
    except Exception as exc:  # report and go on with the next pass
        _fail(row, ctx, exc)

    # backward: dx, dw, db together
    row = Row(prob.name, "conv", "bwd", shape, work=float(prob.backward_flops))
    rows.append(row)
    bwd = lambda: fc.conv2d_backward(dy, x, w, b, s, p, 1, g, layout=layout)  # noqa: E731
    try:
        ctx.progress.update(ctx.index, prob.name, "validating bwd")
        dx, dw, db = bwd()
        errs = [
            compare(_nchw(dx, layout), ref.conv2d_dgrad(dyl, xl.shape, wl, s, p, 1, g), prob.dgrad_reduction),
            compare(_nchw(dw, layout), ref.conv2d_wgrad(dyl, xl, wl.shape, s, p, 1, g), prob.wgrad_reduction),
            compare(db, ref.conv2d_bgrad(dyl), prob.wgrad_reduction),
        ]
        row.err_over_tol = max(errs)
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        if row.check == "FAIL":
            row.note = "err/tol dx %.3g dw %.3g db %.3g" % tuple(errs)
        _time_row(row, ctx, {
            "fastconv": bwd,
            "torch": (lambda: aten.convolution_backward(dyt, xt, wt, [prob.K], [s, s], [p, p], [1, 1], False,
                                                        [0, 0], g, [True, True, True])) if torch is not None else None,
            "numpy": (lambda: nb.conv2d_backward(dy, x, w, b, s, p, g, layout)) if numpy_ok else None,
        }, numpy_note)
    except Exception as exc:
        _fail(row, ctx, exc)
    return rows


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def bench_pool(prob, ctx: Context) -> List[Row]:
    fc, ref, nb, torch, layout = ctx.fc, ctx.reference, ctx.baseline, ctx.torch, ctx.layout
    rng = _rng(prob.name)
    x = rng.standard_normal(prob.x_shape(layout), dtype=np.float32)
    dy = rng.standard_normal(prob.y_shape(layout), dtype=np.float32)
    k, s, p = prob.kernel, prob.stride, prob.pad
    shape = f"{prob.N}x{prob.C}x{prob.H}x{prob.W} k{k} s{s} p{p}"
    xl, dyl = _nchw(x, layout), _nchw(dy, layout)
    is_max = prob.kind == "max"
    op = "max_pool" if is_max else "avg_pool"
    if torch is not None:
        xt, dyt = _torch_view(torch, x, layout), _torch_view(torch, dy, layout)
        F = torch.nn.functional
        aten = torch.ops.aten

    rows = []
    row = Row(prob.name, op, "fwd", shape, work=float(prob.fprop_bytes()))
    rows.append(row)
    if is_max:
        fwd = lambda: fc.max_pool2d(x, k, s, p, layout=layout)  # noqa: E731
        torch_fwd = (lambda: F.max_pool2d(xt, k, s, p)) if torch is not None else None
    else:
        fwd = lambda: fc.avg_pool2d(x, k, s, p, layout=layout)  # noqa: E731
        torch_fwd = (lambda: F.avg_pool2d(xt, k, s, p)) if torch is not None else None
    indices = None
    try:
        ctx.progress.update(ctx.index, prob.name, "validating fwd")
        y = fwd()
        if is_max:
            y_ref, idx_ref = ref.max_pool2d(xl, k, s, p)
            row.err_over_tol = compare(_nchw(y, layout), y_ref, 1, exact=True)
            y2, indices = fc.max_pool2d(x, k, s, p, layout=layout, return_indices=True)
            if not np.array_equal(np.asarray(_nchw(indices, layout)), idx_ref):
                row.err_over_tol = math.inf
                row.note = "return_indices=True: indices differ from the reference"
        else:
            row.err_over_tol = compare(_nchw(y, layout), ref.avg_pool2d(xl, k, s, p), prob.window_reduction)
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        _time_row(row, ctx, {"fastconv": fwd, "torch": torch_fwd,
                             "numpy": lambda: nb.pool2d(x, prob.kind, k, s, p, layout)})
    except Exception as exc:
        _fail(row, ctx, exc)

    row = Row(prob.name, op, "bwd", shape, work=float(prob.backward_bytes()))
    rows.append(row)
    try:
        if is_max:
            # Like torch (which reuses the forward's indices), pass the forward's argmax if the API takes it.
            kw = {"indices": indices} if indices is not None and _accepts(fc.max_pool2d_backward, "indices") else {}
            if kw:
                row.note = "indices from the forward"
            bwd = lambda: fc.max_pool2d_backward(dy, x, k, s, p, layout=layout, **kw)  # noqa: E731
            if torch is not None:
                idx_t = aten.max_pool2d_with_indices(xt, [k, k], [s, s], [p, p], [1, 1], False)[1]
                torch_bwd = lambda: aten.max_pool2d_with_indices_backward(  # noqa: E731
                    dyt, xt, [k, k], [s, s], [p, p], [1, 1], False, idx_t)
            dx_ref = ref.max_pool2d_dgrad(dyl, xl, k, s, p)
        else:
            bwd = lambda: fc.avg_pool2d_backward(dy, x, k, s, p, layout=layout)  # noqa: E731
            if torch is not None:
                torch_bwd = lambda: aten.avg_pool2d_backward(  # noqa: E731
                    dyt, xt, [k, k], [s, s], [p, p], False, True, None)
            dx_ref = ref.avg_pool2d_dgrad(dyl, xl.shape, k, s, p)
        ctx.progress.update(ctx.index, prob.name, "validating bwd")
        dx = bwd()
        row.err_over_tol = compare(_nchw(dx, layout), dx_ref, prob.dgrad_reduction)
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        _time_row(row, ctx, {"fastconv": bwd, "torch": torch_bwd if torch is not None else None,
                             "numpy": lambda: nb.pool2d_backward(dy, x, prob.kind, k, s, p, layout)})
    except Exception as exc:
        _fail(row, ctx, exc)
    return rows


# --------------------------------------------------------------------------- output


def _ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _num(v: Optional[float], digits: int = 1) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _ratio(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _table(header: Sequence[str], lines: List[Sequence[str]], left: int = 3) -> str:
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out += [fmt(line) for line in lines]
    return "\n".join(out)


def format_tables(rows: List[Row]) -> str:
    parts = []
    conv = [r for r in rows if r.op == "conv"]
    pool = [r for r in rows if r.op != "conv"]
    if conv:
        header = ("case", "pass", "check", "GFLOP", "fastconv ms", "GFLOP/s", "torch ms", "ratio", "numpy ms", "ratio")
        lines = []
        for r in conv:
            t = r.ms["fastconv"]
            lines.append((r.case, r.pass_, r.check, f"{r.work / 1e9:.3f}", _ms(t),
                          _num(r.work / 1e9 / (t / 1e3)) if t else "-",
                          _ms(r.ms["torch"]), _ratio(r.ratio("torch")), _ms(r.ms["numpy"]), _ratio(r.ratio("numpy"))))
        parts.append(_table(header, lines))
    if pool:
        header = ("case", "pass", "check", "MB", "fastconv ms", "GB/s", "torch ms", "ratio", "numpy ms", "ratio")
        lines = []
        for r in pool:
            t = r.ms["fastconv"]
            lines.append((r.case, r.pass_, r.check, f"{r.work / 1e6:.1f}", _ms(t),
                          _num(r.work / 1e9 / (t / 1e3)) if t else "-",
                          _ms(r.ms["torch"]), _ratio(r.ratio("torch")), _ms(r.ms["numpy"]), _ratio(r.ratio("numpy"))))
        parts.append(_table(header, lines))
    return "\n\n".join(parts)


def _geomean(values: List[float]) -> Optional[float]:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def format_summary(rows: List[Row]) -> List[str]:
    out = []
    for impl in ("torch", "numpy"):
        parts = []
        for pass_ in ("fwd", "bwd"):
            g = _geomean([r.ratio(impl) for r in rows if r.pass_ == pass_])
            if g is not None:
                n = sum(1 for r in rows if r.pass_ == pass_ and r.ratio(impl) is not None)
                parts.append(f"{pass_} {g:.2f}x ({n})")
        if parts:
            out.append(f"geomean {impl}/fastconv: " + ", ".join(parts))
    checked = [r for r in rows if r.check != "-"]
    ok = sum(1 for r in checked if r.check == "ok")
    out.append(f"validation: {ok}/{len(checked)} ok")
    return out


# --------------------------------------------------------------------------- main


def _limit_blas(n: int):
    """Limit NumPy's BLAS to n threads when threadpoolctl is installed (else leave its default)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None, "default"
    return threadpool_limits(limits=n, user_api="blas"), str(n)


def run(args: argparse.Namespace) -> int:
    from ..testing import problems

    if args.list:
        for prob in problems.select(args.case):
            if isinstance(prob, problems.ConvProblem):
                print(f"{prob.name:18s} conv  N={prob.N} C={prob.C} K={prob.K} H=W={prob.H} kernel={prob.kernel} "
                      f"stride={prob.stride} pad={prob.pad} groups={prob.groups}")
            else:
                print(f"{prob.name:18s} {prob.kind}pool  N={prob.N} C={prob.C} H=W={prob.H} kernel={prob.kernel} "
                      f"stride={prob.stride} pad={prob.pad}")
        return 0
    if args.repeat is not None and args.repeat < 1:
        print("fastconv bench: --repeat must be >= 1", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print("fastconv bench: --threads must be >= 1", file=sys.stderr)
        return 2
    selected = problems.select(args.case)
    if not selected:
        names = ", ".join(p.name for p in problems.ALL_PROBLEMS)
        print(f"fastconv bench: no case matches {args.case}; cases: {names}", file=sys.stderr)
        return 2
    if args.quick:
        selected = [p.with_batch(max(1, p.N // QUICK_BATCH_DIV)) for p in selected]

    import fastconv as fc
    from ..testing import reference
    from ..testing import numpy_baseline

    if args.threads is not None:
        fc.set_num_threads(args.threads)
    threads = fc.get_num_threads()
    try:
        import torch
        torch.set_num_threads(threads)
        torch_version = torch.__version__
    except Exception as exc:  # not installed, or broken: bench without it
        torch, torch_version = None, f"unavailable ({type(exc).__name__})"
    blas_limit, blas_threads = _limit_blas(threads)

    repeat = args.repeat if args.repeat is not None else (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    progress = Progress(len(selected))
    ctx = Context(fc=fc, reference=reference, baseline=numpy_baseline, torch=torch, layout=args.layout,
                  repeat=repeat, budget=QUICK_BUDGET_S if args.quick else BUDGET_S,
                  warmup=1 if args.quick else 2, progress=progress)
    info = fc.build_info()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "fastconv": fc.__version__,
        "cpu_isa_selected": info.get("cpu_isa_selected"),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "threads": threads,
        "torch": torch_version,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "numpy": np.__version__,
        "numpy_blas_threads": blas_threads,
        "layout": args.layout,
        "dtype": "float32",
        "quick": bool(args.quick),
        "repeat": repeat,
        "budget_s": ctx.budget,
        "tolerance": f"{TOL_C:g} * eps32 * sqrt(L) * (|ref| + rms(ref))",
        "argv": sys.argv[1:],
    }

    load = _load_average()
    meta["load_average_1min"] = load
    start = time.perf_counter()
    rows: List[Row] = []
    try:
        for i, prob in enumerate(selected, 1):
            ctx.index = i
            progress.update(i, prob.name, "preparing")
            rows += bench_conv(prob, ctx) if isinstance(prob, problems.ConvProblem) else bench_pool(prob, ctx)
    finally:
        progress.done()
        if blas_limit is not None:
            blas_limit.restore_original_limits()
    elapsed = time.perf_counter() - start

    print(f"fastconv bench: {threads} threads (torch {meta['torch_threads'] or '-'}, numpy BLAS {blas_threads}), "
          f"layout {args.layout}, float32{', quick' if args.quick else ''}; "
          f"fastconv {fc.__version__} [{info.get('cpu_isa_selected', '?')}], torch {torch_version}, "
          f"numpy {np.__version__}")
    print("medians, interleaved in one process; ratio = other ms / fastconv ms (> 1: fastconv faster); "
          "bwd = dx + dw + db; numpy = float32 im2col baseline")
    print()
    print(format_tables(rows))
    print()
    for line in format_summary(rows):
        print(line)
    for r in rows:
        if r.note:
            print(f"note: {r.case} {r.pass_}: {r.note}")
    if load is not None and load > 0.5:
        print(f"warning: the 1-minute load average was {load:.2f} at the start: other processes compete for the "
              f"cores, so timings (torch's especially) are unreliable")
    print(f"total {elapsed:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": dict(meta, elapsed_s=round(elapsed, 2)), "results": [r.to_json() for r in rows]},
                      f, indent=2)
    return 0 if all(r.check == "ok" for r in rows) else 1


def _load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"
