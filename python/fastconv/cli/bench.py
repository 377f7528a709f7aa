"""``fastconv bench``: the layer suite of BENCHMARKS.md, validated once, then timed side by side.

One measurement is a (case, pass, layout, thread count):

- passes: ``fwd``; ``bwd`` = dx, dw and db together; ``dx``, ``dw``, ``db`` alone (convolutions:
  ``needs_input_grad`` for fastconv, ``aten.convolution_backward``'s output mask for torch); pools
  have ``fwd`` and ``bwd`` (their backward is dx alone);
- layouts: ``NCHW`` and ``NHWC`` (fastconv ``layout="NHWC"`` on NHWC/KRSC arrays; torch on
  channels_last views of the same memory);
- threads: fastconv, torch (``torch.set_num_threads``) and NumPy's BLAS (when threadpoolctl is
  installed) get the same count in each measurement.

For each measurement:

1. fastconv's outputs are checked once against the float64 NumPy reference
   (``fastconv.testing.reference``, computed once per case and shared by every pass, layout and
   thread count): ``|out - ref| <= rtol * (|ref| + rms(ref))`` with
   ``rtol = TOL_C * eps(float32) * sqrt(L)``, L the reduction length of that output; max-pool
   values and indices must match exactly.
2. fastconv and PyTorch CPU (when ``import torch`` works) run interleaved in one process (A B A B ...)
   after warm-up calls, then a float32 NumPy im2col baseline (after the others: its BLAS threads keep
   spinning for a while after each call); each stops after ``--repeat`` runs or once it has spent its
   time budget (at least 3 runs, NumPy at most 3). Medians are reported.

The machine's FMA peak and copy bandwidth are measured at the start of the same run (peak.py) for
the "% of peak" and "% of copy" columns. Tables, geometric means and the BENCHMARKS.md targets go to
stdout, progress to stderr. Exit status 1 when any validation fails.
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
import textwrap
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import peak as peak_mod
from . import report

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
# How long OpenBLAS's worker threads keep spinning after a call, with a margin (measured: 0.1-0.3 s).
BLAS_SPIN_PAUSE_S = 0.3
PASSES = ("fwd", "bwd", "dx", "dw", "db")
POOL_PASSES = ("fwd", "bwd")
LAYOUTS = ("NCHW", "NHWC")
DEFAULT_PASSES = ("fwd", "bwd")
# needs_input_grad (dx, dw, db) of each backward pass
NEEDS = {"bwd": (True, True, True), "dx": (True, False, False), "dw": (False, True, False),
         "db": (False, False, True)}


# --------------------------------------------------------------------------- arguments


def _usable_cores() -> int:
    from .info import usable_cores
    return usable_cores()


def _csv(choices: Sequence[str], aliases: Dict[str, Sequence[str]], upper: bool = False):
    def parse(text: str) -> Tuple[str, ...]:
        out = []
        for item in (t.strip() for t in text.split(",")):
            item = item.upper() if upper else item.lower()
            if item in aliases:
                out += aliases[item]
            elif item in choices:
                out.append(item)
            else:
                raise argparse.ArgumentTypeError(
                    f"{item!r} is not one of {', '.join(list(choices) + list(aliases))}")
        return tuple(out)
    return parse


def _thread_list(text: str) -> Tuple[int, ...]:
    out = []
    for item in (t.strip().lower() for t in text.split(",")):
        if item == "all":
            out.append(_usable_cores())
            continue
        try:
            n = int(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is neither a thread count nor 'all'") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {n}")
        out.append(n)
    return tuple(out)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="benchmark the layer suite against PyTorch and NumPy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Validate fastconv on the layer suite of BENCHMARKS.md against the float64 NumPy reference, then time "
            "it interleaved with PyTorch CPU (if installed), then a float32 NumPy im2col baseline, with the same "
            "thread count for all three. Reports GFLOP/s and % of the FMA peak (GB/s and % of copy bandwidth for "
            "pools), both measured in the same run, ratios, geometric means and the BENCHMARKS.md targets met or "
            "missed. Table on stdout, progress on stderr; exit status 1 if a validation fails.", 96),
        epilog="""\
what runs:
  default   every case; passes fwd and bwd (dx + dw + db together); layouts NCHW and NHWC;
            all threads. About 1.5-2 minutes on 2 cores (what the README's quick start runs).
  --full    adds the passes dx, dw and db alone and 1 thread: every case x 5 passes (pools: 2)
            x 2 layouts x {1, all} threads. About 10 minutes on 2 cores.
  --case, --pass, --layout and --threads narrow (or, with --full, override) each dimension.

examples:
  python -m fastconv bench
  python -m fastconv bench --full --json results.json --plot results.png
  python -m fastconv bench --case resnet.1x1 --pass dx,dw --layout NHWC --threads 1,all
  python -m fastconv bench --quick --case seed      # smoke run: batch / 8, a few runs each
""")
    p.add_argument("--full", action="store_true",
                   help="everything: passes fwd, bwd, dx, dw, db; layouts NCHW and NHWC; threads 1 and all")
    p.add_argument("--case", action="append", default=[], metavar="SUBSTR",
                   help="only cases whose name contains SUBSTR (repeatable: any of them)")
    p.add_argument("--pass", dest="passes", action="append", metavar="LIST",
                   type=_csv(PASSES, {"all": PASSES}),
                   help="passes, comma-separated: fwd, bwd (dx + dw + db together), dx, dw, db, all "
                        "(default fwd,bwd; --full: all). dx, dw, db apply to convolutions only")
    p.add_argument("--layout", dest="layouts", action="append", metavar="LIST",
                   type=_csv(LAYOUTS, {"BOTH": LAYOUTS, "ALL": LAYOUTS}, upper=True),
                   help="layouts, comma-separated: NCHW, NHWC, both (default both). NHWC: inputs (N, H, W, C), "
                        "weights (K, R, S, C/groups)")
    p.add_argument("--threads", action="append", metavar="LIST", type=_thread_list,
                   help="thread counts, comma-separated, 'all' = the usable cores (default all; --full: 1,all); "
                        "fastconv, torch and NumPy's BLAS get the same count in each measurement")
    p.add_argument("--repeat", type=int, metavar="K",
                   help=f"most timed runs per measurement (default {DEFAULT_REPEAT}, {QUICK_REPEAT} with --quick); "
                        f"a measurement stops earlier once it has spent ~{BUDGET_S} s and has {MIN_RUNS} runs")
    p.add_argument("--json", metavar="FILE", help="also write the results, targets and the machine's details as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the ratios vs torch (or %% of peak without torch) per case; needs matplotlib "
                        "(pip install matplotlib, or the bench extra: pip install 'fastconv[bench]')")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: batch N / {QUICK_BATCH_DIV}, {QUICK_REPEAT} runs, "
                        f"~{QUICK_BUDGET_S} s per measurement, shorter peak measurements")
    p.add_argument("--retry-busy", type=int, default=0, metavar="ROUNDS",
                   help="at the end, time again (up to ROUNDS times) the rows during which other processes kept "
                        f"more than {report.BUSY_OTHERS} cores busy, keeping the quieter measurement (default 0)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before timing each row, wait up to SECONDS until other processes keep at most "
                        f"{report.BUSY_OTHERS} cores busy (default 0: do not wait)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.set_defaults(run=run)


def _flatten(groups: Optional[List[Tuple]], default: Sequence) -> Tuple:
    if not groups:
        return tuple(default)
    out = []
    for group in groups:
        for item in group:
            if item not in out:
                out.append(item)
    return tuple(out)


@dataclass
class Plan:
    """What one run measures: each case x pass x layout x thread count (pools: fwd and bwd only)."""
    problems: List[Any]
    passes: Tuple[str, ...]
    layouts: Tuple[str, ...]
    threads: Tuple[int, ...]

    def passes_for(self, prob) -> Tuple[str, ...]:
        return tuple(p for p in self.passes if getattr(prob, "kind", "conv") == "conv" or p in POOL_PASSES)

    def count(self) -> int:
        return sum(len(self.passes_for(p)) for p in self.problems) * len(self.layouts) * len(self.threads)


def make_plan(args: argparse.Namespace, problems_list: List[Any]) -> Plan:
    full = bool(getattr(args, "full", False))
    passes = _flatten(args.passes, PASSES if full else DEFAULT_PASSES)
    passes = tuple(p for p in PASSES if p in passes)            # canonical order
    layouts = _flatten(args.layouts, LAYOUTS)
    layouts = tuple(lay for lay in LAYOUTS if lay in layouts)
    threads = _flatten(args.threads, (1, _usable_cores()) if full else (_usable_cores(),))
    return Plan(problems_list, passes, layouts, tuple(sorted(set(threads))))


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    case: str
    op: str                    # "conv", "max_pool", "avg_pool"
    pass_: str                 # "fwd", "bwd", "dx", "dw", "db"
    shape: str
    layout: str = "NCHW"
    threads: int = 1
    check: str = "-"           # "ok", "FAIL", "ERROR"
    err_over_tol: Optional[float] = None
    work: float = 0.0          # FLOP (conv) or bytes (pool)
    ms: Dict[str, Optional[float]] = field(default_factory=lambda: {k: None for k in IMPLS})
    runs: Dict[str, int] = field(default_factory=lambda: {k: 0 for k in IMPLS})
    others: Optional[float] = None   # cores other processes kept busy while this row was timed
    waited_s: float = 0.0            # --wait-quiet: seconds waited before timing
    first_others: Optional[float] = None  # --retry-busy: `others` of the first measurement, when re-timed
    note: str = ""

    @property
    def config(self) -> str:
        return f"{self.layout} {self.threads}t"

    def ratio(self, impl: str) -> Optional[float]:
        mine, theirs = self.ms["fastconv"], self.ms[impl]
        if mine is None or theirs is None or mine <= 0:
            return None
        return theirs / mine

    def rate(self, impl: str = "fastconv") -> Optional[float]:
        """GFLOP/s (conv) or GB/s (pool) of one implementation."""
        t = self.ms.get(impl)
        return None if not t else self.work / 1e9 / (t / 1e3)

    def to_json(self, limits: Optional[peak_mod.MachineLimits] = None) -> Dict[str, Any]:
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        d["ratio_torch"] = self.ratio("torch")
        d["ratio_numpy"] = self.ratio("numpy")
        unit = "gflops" if self.op == "conv" else "gbps"
        d[unit] = {impl: self.rate(impl) for impl in IMPLS}
        if limits is not None:
            d["pct_of_peak" if self.op == "conv" else "pct_of_copy"] = {
                impl: report.percent(self, limits, impl) for impl in IMPLS}
        return d


class Progress:
    """Progress on stderr: one line per measurement ("[12/40] resnet.3x3.56 bwd NHWC 2t"),
    rewritten in place with its stage on a terminal."""

    def __init__(self, total: int):
        self.total = total
        self.tty = sys.stderr.isatty()
        self.last_label = None
        self.start = time.perf_counter()

    def update(self, i: int, label: str, stage: str) -> None:
        elapsed = time.perf_counter() - self.start
        if self.tty:
            sys.stderr.write(f"\r\033[K[{i}/{self.total}] {label}: {stage} ({elapsed:.0f} s)")
            sys.stderr.flush()
        elif label != self.last_label:
            sys.stderr.write(f"[{i}/{self.total}] {label} ({elapsed:.0f} s)\n")
            sys.stderr.flush()
        self.last_label = label

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
    if out is None:
        return math.inf
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
    return a if layout == "NCHW" or a is None else a.transpose(0, 3, 1, 2)


def _stored(a: np.ndarray, layout: str) -> np.ndarray:
    """A logical (N, C, H, W) array stored in `layout` (NHWC: a contiguous (N, H, W, C) copy)."""
    return a if layout == "NCHW" else np.ascontiguousarray(a.transpose(0, 2, 3, 1))


# --------------------------------------------------------------------------- timing


def time_interleaved(fns: Dict[str, Callable[[], Any]], *, repeat: int, budget: float, warmup: int,
                     max_runs: Optional[Dict[str, int]] = None, skip_warmup: Sequence[str] = ()
                     ) -> Dict[str, List[float]]:
    """Run each function in turn (A B A B ...) and return the seconds of each run.

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
    repeat: int
    budget: float
    warmup: int
    progress: Progress
    index: int = 0
    set_blas_threads: Optional[Callable[[int], None]] = None
    wait_quiet: float = 0.0    # seconds each row may wait for other processes to leave the cores

    def set_threads(self, n: int) -> None:
        """The same thread count for fastconv, torch and (when it can be set) NumPy's BLAS."""
        self.fc.set_num_threads(n)
        if self.torch is not None:
            self.torch.set_num_threads(n)
        if self.set_blas_threads is not None:
            self.set_blas_threads(n)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _torch_view(torch, a: np.ndarray, layout: str):
    """A torch tensor sharing `a`'s memory, NCHW-logical (channels_last strides for NHWC)."""
    t = torch.from_numpy(a)
    return t.permute(0, 3, 1, 2) if layout == "NHWC" and t.dim() == 4 else t


class ConvCase:
    """One convolution case's inputs (logical NCHW, float32, seeded by the case name), their
    stored copies per layout, and float64 reference outputs computed once, on first use."""

    def __init__(self, prob, reference):
        self.prob, self.reference = prob, reference
        rng = _rng(prob.name)
        self.x = rng.standard_normal(prob.x_shape(), dtype=np.float32)
        self.w = rng.standard_normal(prob.w_shape(), dtype=np.float32) / np.float32(math.sqrt(prob.fprop_reduction))
        self.b = np.float32(0.1) * rng.standard_normal(prob.K, dtype=np.float32)
        self.dy = rng.standard_normal(prob.y_shape(), dtype=np.float32)
        self._stored: Dict[str, Tuple[np.ndarray, ...]] = {}
        self._ref: Dict[str, np.ndarray] = {}

    def arrays(self, layout: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, w, b, dy) stored in `layout` (w: KCRS or KRSC)."""
        if layout not in self._stored:
            self._stored[layout] = (_stored(self.x, layout), _stored(self.w, layout), self.b, _stored(self.dy, layout))
        return self._stored[layout]

    def ref(self, name: str) -> np.ndarray:
        if name not in self._ref:
            ref, p = self.reference, self.prob
            s, pad, g = p.stride, p.pad, p.groups
            if name == "y":
                self._ref[name] = ref.conv2d(self.x, self.w, self.b, s, pad, 1, g)
            elif name == "dx":
                self._ref[name] = ref.conv2d_dgrad(self.dy, self.x.shape, self.w, s, pad, 1, g)
            elif name == "dw":
                self._ref[name] = ref.conv2d_wgrad(self.dy, self.x, self.w.shape, s, pad, 1, g)
            else:
                self._ref[name] = ref.conv2d_bgrad(self.dy)
        return self._ref[name]


class PoolCase:
    """One pooling case's inputs and float64 reference outputs (see ConvCase)."""

    def __init__(self, prob, reference):
        self.prob, self.reference = prob, reference
        rng = _rng(prob.name)
        self.x = rng.standard_normal(prob.x_shape(), dtype=np.float32)
        self.dy = rng.standard_normal(prob.y_shape(), dtype=np.float32)
        self._stored: Dict[str, Tuple[np.ndarray, ...]] = {}
        self._ref: Dict[str, Any] = {}

    def arrays(self, layout: str) -> Tuple[np.ndarray, np.ndarray]:
        if layout not in self._stored:
            self._stored[layout] = (_stored(self.x, layout), _stored(self.dy, layout))
        return self._stored[layout]

    def ref(self, name: str):
        if name not in self._ref:
            ref, p = self.reference, self.prob
            k, s, pad = p.kernel, p.stride, p.pad
            if p.kind == "max":
                if name in ("y", "idx"):
                    self._ref["y"], self._ref["idx"] = ref.max_pool2d(self.x, k, s, pad)
                else:
                    self._ref[name] = ref.max_pool2d_dgrad(self.dy, self.x, k, s, pad)
            elif name == "y":
                self._ref[name] = ref.avg_pool2d(self.x, k, s, pad)
            else:
                self._ref[name] = ref.avg_pool2d_dgrad(self.dy, self.x.shape, k, s, pad)
        return self._ref[name]


def make_case(prob, reference):
    return PoolCase(prob, reference) if getattr(prob, "kind", "conv") in ("max", "avg") else ConvCase(prob, reference)


def _label(row: Row) -> str:
    return f"{row.case} {row.pass_} {row.layout} {row.threads}t"


def _time_row(row: Row, ctx: Context, fns: Dict[str, Optional[Callable[[], Any]]], numpy_note: str = "") -> None:
    fns = {k: v for k, v in fns.items() if v is not None}
    if ctx.wait_quiet > 0:
        waited = wait_for_quiet(ctx.wait_quiet,
                                lambda: ctx.progress.update(ctx.index, _label(row), "waiting for a quiet machine"))
        row.waited_s = round(waited, 2)
    ctx.progress.update(ctx.index, _label(row), f"timing ({', '.join(fns)})")
    meter = peak_mod.OtherLoad().start()
    # The NumPy baseline runs after fastconv and torch, not between them: NumPy's OpenBLAS threads spin
    # for about 0.1 s after each call and slowed whatever ran next on the two cores (a 0.75 ms
    # convolution took 4 ms in that window). A pause after it keeps the spin out of the next row too.
    baseline = {k: fns.pop(k) for k in ("numpy",) if k in fns}
    times = time_interleaved(fns, repeat=ctx.repeat, budget=ctx.budget, warmup=ctx.warmup)
    if baseline:
        times.update(time_interleaved(baseline, repeat=ctx.repeat, budget=ctx.budget, warmup=0,
                                      max_runs={"numpy": NUMPY_MAX_RUNS}))
        time.sleep(BLAS_SPIN_PAUSE_S)
    row.others = meter.cores()
    for name, ts in times.items():
        row.ms[name] = 1e3 * statistics.median(ts) if ts else None
        row.runs[name] = len(ts)
    if numpy_note:
        row.note = (row.note + "; " if row.note else "") + numpy_note


def wait_for_quiet(limit_s: float, on_wait: Optional[Callable[[], None]] = None, sample_s: float = 0.25,
                   threshold: Optional[float] = None) -> float:
    """Wait until other processes keep at most `threshold` cores busy over a `sample_s` sample, or
    `limit_s` seconds have passed; returns the seconds waited (0 where the load cannot be read)."""
    threshold = report.BUSY_OTHERS if threshold is None else threshold
    start = time.perf_counter()
    while True:
        meter = peak_mod.OtherLoad().start()
        time.sleep(sample_s)
        cores = meter.cores()
        waited = time.perf_counter() - start
        if cores is None or cores <= threshold or waited >= limit_s:
            return waited if cores is not None else 0.0
        if on_wait is not None:
            on_wait()


def _fail(row: Row, ctx: Context, exc: BaseException) -> None:
    row.check = "ERROR"
    row.note = f"{type(exc).__name__}: {exc}"
    ctx.progress.message(f"{_label(row)}: {row.note}")


def conv_shape(prob) -> str:
    return (f"{prob.N}x{prob.C}x{prob.H}x{prob.W} -> {prob.K} k{prob.kernel} s{prob.stride} p{prob.pad}"
            + (f" g{prob.groups}" if prob.groups > 1 else ""))


def bench_conv(case: ConvCase, pass_: str, layout: str, threads: int, ctx: Context) -> Row:
    """Validate, then time one convolution pass in one layout (the thread count is already set)."""
    prob = case.prob
    fc, nb, torch = ctx.fc, ctx.baseline, ctx.torch
    x, w, b, dy = case.arrays(layout)
    s, p, g = prob.stride, prob.pad, prob.groups
    row = Row(prob.name, "conv", pass_, conv_shape(prob), layout, threads, work=float(prob.flops(pass_)))
    numpy_ok = pass_ == "db" or nb.im2col_bytes(prob.N, prob.C, prob.P, prob.Q, prob.kernel) <= NUMPY_MAX_BYTES
    numpy_note = "" if numpy_ok else "numpy skipped: im2col matrix too large"
    if torch is not None:
        xt, wt, bt, dyt = (_torch_view(torch, a, layout) for a in (x, w, b, dy))
        F = torch.nn.functional
        aten = torch.ops.aten
    try:
        ctx.progress.update(ctx.index, _label(row), "validating")
        if pass_ == "fwd":
            fast = lambda: fc.conv2d(x, w, b, s, p, 1, g, layout=layout)  # noqa: E731
            theirs = (lambda: F.conv2d(xt, wt, bt, s, p, 1, g)) if torch is not None else None
            mine = (lambda: nb.conv2d(x, w, b, s, p, g, layout)) if numpy_ok else None
            row.err_over_tol = compare(_nchw(fast(), layout), case.ref("y"), prob.fprop_reduction)
        else:
            needs = NEEDS[pass_]
            fast = lambda: fc.conv2d_backward(dy, x, w, b, s, p, 1, g, needs_input_grad=needs,  # noqa: E731
                                              layout=layout)
            theirs = (lambda: aten.convolution_backward(dyt, xt, wt, [prob.K], [s, s], [p, p], [1, 1], False,
                                                        [0, 0], g, list(needs))) if torch is not None else None
            mine = (lambda: nb.conv2d_backward(dy, x, w, b, s, p, g, layout, needs=needs)) if numpy_ok else None
            grads = fast()
            errs = {}
            for name, need, out, L in zip(("dx", "dw", "db"), needs, grads,
                                          (prob.dgrad_reduction, prob.wgrad_reduction, prob.wgrad_reduction)):
                if need:
                    errs[name] = compare(out if name == "db" else _nchw(out, layout), case.ref(name), L)
                elif out is not None:
                    errs[name] = math.inf   # needs_input_grad said no: it must come back as None
            row.err_over_tol = max(errs.values())
            if row.err_over_tol > 1:
                row.note = "err/tol " + " ".join(f"{k} {v:.3g}" for k, v in errs.items())
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        _time_row(row, ctx, {"fastconv": fast, "torch": theirs, "numpy": mine}, numpy_note)
    except Exception as exc:  # report and go on with the next measurement
        _fail(row, ctx, exc)
    return row


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def bench_pool(case: PoolCase, pass_: str, layout: str, threads: int, ctx: Context) -> Row:
    """Validate, then time one pooling pass in one layout (the thread count is already set)."""
    prob = case.prob
    fc, nb, torch = ctx.fc, ctx.baseline, ctx.torch
    x, dy = case.arrays(layout)
    k, s, p = prob.kernel, prob.stride, prob.pad
    is_max = prob.kind == "max"
    shape = f"{prob.N}x{prob.C}x{prob.H}x{prob.W} k{k} s{s} p{p}"
    row = Row(prob.name, f"{prob.kind}_pool", pass_, shape, layout, threads, work=float(prob.bytes(pass_)))
    if torch is not None:
        xt, dyt = _torch_view(torch, x, layout), _torch_view(torch, dy, layout)
        F = torch.nn.functional
        aten = torch.ops.aten
    try:
        ctx.progress.update(ctx.index, _label(row), "validating")
        if pass_ == "fwd":
            if is_max:
                fast = lambda: fc.max_pool2d(x, k, s, p, layout=layout)  # noqa: E731
                theirs = (lambda: F.max_pool2d(xt, k, s, p)) if torch is not None else None
                row.err_over_tol = compare(_nchw(fast(), layout), case.ref("y"), 1, exact=True)
                _, indices = fc.max_pool2d(x, k, s, p, layout=layout, return_indices=True)
                if not np.array_equal(np.asarray(_nchw(indices, layout)), case.ref("idx")):
                    row.err_over_tol = math.inf
                    row.note = "return_indices=True: indices differ from the reference"
            else:
                fast = lambda: fc.avg_pool2d(x, k, s, p, layout=layout)  # noqa: E731
                theirs = (lambda: F.avg_pool2d(xt, k, s, p)) if torch is not None else None
                row.err_over_tol = compare(_nchw(fast(), layout), case.ref("y"), prob.window_reduction)
            mine = lambda: nb.pool2d(x, prob.kind, k, s, p, layout)  # noqa: E731
        else:
            if is_max:
                # Like torch (which reuses the forward's indices), pass the forward's argmax if the API takes it.
                kw = {}
                if _accepts(fc.max_pool2d_backward, "indices"):
                    kw["indices"] = fc.max_pool2d(x, k, s, p, layout=layout, return_indices=True)[1]
                    row.note = "indices from the forward"
                fast = lambda: fc.max_pool2d_backward(dy, x, k, s, p, layout=layout, **kw)  # noqa: E731
                theirs = None
                if torch is not None:
                    idx_t = aten.max_pool2d_with_indices(xt, [k, k], [s, s], [p, p], [1, 1], False)[1]
                    theirs = lambda: aten.max_pool2d_with_indices_backward(  # noqa: E731
                        dyt, xt, [k, k], [s, s], [p, p], [1, 1], False, idx_t)
            else:
                fast = lambda: fc.avg_pool2d_backward(dy, x, k, s, p, layout=layout)  # noqa: E731
                theirs = (lambda: aten.avg_pool2d_backward(dyt, xt, [k, k], [s, s], [p, p], False, True, None)
                          ) if torch is not None else None
            mine = lambda: nb.pool2d_backward(dy, x, prob.kind, k, s, p, layout)  # noqa: E731
            row.err_over_tol = compare(_nchw(fast(), layout), case.ref("dx"), prob.dgrad_reduction)
        row.check = "ok" if row.err_over_tol <= 1 else "FAIL"
        _time_row(row, ctx, {"fastconv": fast, "torch": theirs, "numpy": mine})
    except Exception as exc:
        _fail(row, ctx, exc)
    return row


def run_plan(plan: Plan, ctx: Context) -> List[Row]:
    """Every measurement of the plan: case by case, thread count by thread count (set once), then
    layout and pass. Returns the rows in table order (case, pass, layout, threads)."""
    rows: List[Row] = []
    for prob in plan.problems:
        case = make_case(prob, ctx.reference)
        bench_one = bench_pool if isinstance(case, PoolCase) else bench_conv
        for threads in plan.threads:
            ctx.set_threads(threads)
            for layout in plan.layouts:
                for pass_ in plan.passes_for(prob):
                    ctx.index += 1
                    rows.append(bench_one(case, pass_, layout, threads, ctx))
    order = {name: i for i, name in enumerate(PASSES)}
    lay = {name: i for i, name in enumerate(LAYOUTS)}
    cases = {prob.name: i for i, prob in enumerate(plan.problems)}
    rows.sort(key=lambda r: (cases[r.case], order[r.pass_], lay[r.layout], r.threads))
    return rows


def retry_busy(rows: List[Row], plan: Plan, ctx: Context, threshold: float, rounds: int = 1) -> int:
    """Time again (validation included) the rows during which other processes kept more than
    `threshold` cores busy; keep whichever measurement saw less of them. Returns the rows retried."""
    probs = {p.name: p for p in plan.problems}
    retried = 0
    for _ in range(rounds):
        busy = [i for i, r in enumerate(rows) if r.others is not None and r.others > threshold]
        if not busy:
            break
        ctx.progress.total += len(busy)
        ctx.progress.message(f"re-timing {len(busy)} rows measured while other processes kept > {threshold} cores busy")
        for name in dict.fromkeys(rows[i].case for i in busy):
            case = make_case(probs[name], ctx.reference)
            bench_one = bench_pool if isinstance(case, PoolCase) else bench_conv
            for i in sorted((i for i in busy if rows[i].case == name), key=lambda i: rows[i].threads):
                old = rows[i]
                ctx.set_threads(old.threads)
                ctx.index += 1
                new = bench_one(case, old.pass_, old.layout, old.threads, ctx)
                retried += 1
                if new.others is not None and new.others < old.others:
                    new.first_others = old.others
                    new.waited_s += old.waited_s
                    rows[i] = new
    return retried


# --------------------------------------------------------------------------- main


def _blas_limiter():
    """(set_threads(n), restore(), description): NumPy's BLAS thread count through threadpoolctl,
    or (None, None, 'default') when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None, None, "default (install threadpoolctl to match)"
    first: List[Any] = []

    def set_threads(n: int) -> None:
        limiter = threadpool_limits(limits=n, user_api="blas")
        if not first:
            first.append(limiter)

    def restore() -> None:
        if first:
            first[0].restore_original_limits()
    return set_threads, restore, "same"


def _check_plot_backend() -> Optional[str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ("fastconv bench: --plot needs matplotlib, which is not installed: pip install matplotlib "
                "(or pip install 'fastconv[bench]')")
    return None


def _list(problems_list) -> None:
    from ..testing import problems
    for prob in problems_list:
        if isinstance(prob, problems.ConvProblem):
            print(f"{prob.name:18s} conv  N={prob.N} C={prob.C} K={prob.K} H=W={prob.H} kernel={prob.kernel} "
                  f"stride={prob.stride} pad={prob.pad} groups={prob.groups}")
        else:
            print(f"{prob.name:18s} {prob.kind}pool  N={prob.N} C={prob.C} H=W={prob.H} kernel={prob.kernel} "
                  f"stride={prob.stride} pad={prob.pad}")


def run(args: argparse.Namespace) -> int:
    from ..testing import problems

    if args.list:
        _list(problems.select(args.case))
        return 0
    if args.repeat is not None and args.repeat < 1:
        print("fastconv bench: --repeat must be >= 1", file=sys.stderr)
        return 2
    selected = problems.select(args.case)
    if not selected:
        names = ", ".join(p.name for p in problems.ALL_PROBLEMS)
        print(f"fastconv bench: no case matches {args.case}; cases: {names}", file=sys.stderr)
        return 2
    if args.plot:
        err = _check_plot_backend()
        if err:
            print(err, file=sys.stderr)
            return 2
    if args.quick:
        selected = [p.with_batch(max(1, p.N // QUICK_BATCH_DIV)) for p in selected]
    plan = make_plan(args, selected)
    if plan.count() == 0:
        print(f"fastconv bench: nothing to run: pools have only the passes fwd and bwd (asked: "
              f"{', '.join(plan.passes)})", file=sys.stderr)
        return 2

    import fastconv as fc
    from ..testing import numpy_baseline, reference

    saved_threads = fc.get_num_threads()
    # OpenMP's default lets torch's worker threads spin for milliseconds after each call, holding a
    # core that the next (interleaved) fastconv call needs; torch's own times do not change with
    # PASSIVE. Read by the OpenMP runtime when torch loads, so it is set before the import (a value
    # the user set is kept).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
        torch_version = torch.__version__
        torch_saved = torch.get_num_threads()
    except Exception as exc:  # not installed, or broken: bench without it
        torch, torch_version, torch_saved = None, f"unavailable ({type(exc).__name__})", None
    set_blas, restore_blas, blas_desc = _blas_limiter()

    repeat = args.repeat if args.repeat is not None else (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    progress = Progress(plan.count())
    ctx = Context(fc=fc, reference=reference, baseline=numpy_baseline, torch=torch, repeat=repeat,
                  budget=QUICK_BUDGET_S if args.quick else BUDGET_S, warmup=1 if args.quick else 2,
                  progress=progress, set_blas_threads=set_blas, wait_quiet=max(0.0, args.wait_quiet))
    info = fc.build_info()
    load = _load_average()
    start = time.perf_counter()
    progress.message(f"measuring the FMA peak and copy bandwidth ({', '.join(f'{t}t' for t in plan.threads)})")
    limits = peak_mod.measure(plan.threads, quick=args.quick)
    rows: List[Row] = []
    try:
        rows = run_plan(plan, ctx)
        if args.retry_busy > 0:
            retry_busy(rows, plan, ctx, report.BUSY_OTHERS, rounds=args.retry_busy)
    finally:
        progress.done()
        fc.set_num_threads(saved_threads)
        if torch is not None:
            torch.set_num_threads(torch_saved)
        if restore_blas is not None:
            restore_blas()
    elapsed = time.perf_counter() - start

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "fastconv": fc.__version__,
        "cpu_isa_selected": info.get("cpu_isa_selected"),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "usable_cores": _usable_cores(),
        "threads": list(plan.threads),
        "layouts": list(plan.layouts),
        "passes": list(plan.passes),
        "cases": [p.name for p in plan.problems],
        "torch": torch_version,
        "numpy": np.__version__,
        "numpy_blas_threads": blas_desc,
        "dtype": "float32",
        "quick": bool(args.quick),
        "full": bool(args.full),
        "retry_busy": args.retry_busy,
        "wait_quiet_s": args.wait_quiet,
        "repeat": repeat,
        "budget_s": ctx.budget,
        "tolerance": f"{TOL_C:g} * eps32 * sqrt(L) * (|ref| + rms(ref))",
        "argv": sys.argv[1:],
        "load_average_1min": load,
        "elapsed_s": round(elapsed, 2),
    }
    threads_text = ", ".join(str(t) for t in plan.threads)
    print(f"fastconv bench: threads {threads_text} (torch the same, numpy BLAS {blas_desc}), "
          f"layouts {' '.join(plan.layouts)}, passes {' '.join(plan.passes)}, float32"
          f"{', quick' if args.quick else ''}; fastconv {fc.__version__} [{info.get('cpu_isa_selected', '?')}], "
          f"torch {torch_version}, numpy {np.__version__}")
    for line in report.format_limits(limits):
        print(line)
    print("medians, interleaved in one process; ratio = other ms / fastconv ms (> 1: fastconv faster); "
          "bwd = dx + dw + db; numpy = float32 im2col baseline; others = cores other processes kept busy "
          "while the row was timed")
    print()
    print(report.format_tables(rows, limits))
    print()
    targets = report.evaluate_targets(rows, limits)
    for line in report.format_summary(rows):
        print(line)
    if targets:
        print()
        for line in report.format_targets(targets):
            print(line)
    notes = [f"note: {_label(r)}: {r.note}" for r in rows if r.note]
    if notes:
        print()
        for line in notes:
            print(line)
    if load is not None and load > 0.5:
        print(f"warning: the 1-minute load average was {load:.2f} at the start: other processes compete for the "
              f"cores, so timings (torch's and multithreaded ones especially) are unreliable")
    print(f"total {elapsed:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "machine": limits.to_json(),
                       "targets": [t.to_json() for t in targets],
                       "results": [r.to_json(limits) for r in rows]}, f, indent=2)
    if args.plot:
        report.plot(rows, limits, args.plot, title=f"fastconv bench {meta['date']} ({meta['processor']})")
        print(f"plot: {args.plot}")
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
