"""What ``fastconv bench`` prints and draws: the tables, the geometric means, the BENCHMARKS.md
targets met or missed, the machine's limits, and the optional matplotlib plot.

Rows come from bench.py (``bench.Row``: case, pass, layout, threads, medians per implementation);
limits from peak.py. Nothing here measures anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["percent", "format_limits", "format_tables", "format_summary", "evaluate_targets",
           "format_targets", "Target", "geomean", "plot"]

PASS_ORDER = ("fwd", "bwd", "dx", "dw", "db")
BUSY_OTHERS = 0.25   # cores busy with other processes above which a row's timings are suspect

# BENCHMARKS.md, "Targets": the cases whose backward must be >= 2x PyTorch's.
BWD_2X_CASES = ("seed.conv1", "resnet.1x1.56", "resnet.1x1.s2", "resnet.3x3.s2", "stem.7x7.s2")


def geomean(values) -> Optional[float]:
    values = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def percent(row, limits, impl: str = "fastconv") -> Optional[float]:
    """% of the FMA peak (conv rows) or of the copy bandwidth (pool rows) at the row's thread count."""
    rate = row.rate(impl)
    if rate is None or limits is None:
        return None
    ref = limits.peak(row.threads) if row.op == "conv" else limits.copy.get(row.threads)
    return None if not ref else 100.0 * rate / ref


# --------------------------------------------------------------------------- text


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


def _table(header: Sequence[str], lines: List[Sequence[str]], left: int) -> str:
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out += [fmt(line) for line in lines]
    return "\n".join(out)


def format_limits(limits) -> List[str]:
    out = []
    if limits.fma_1t is not None:
        together = ", ".join(f"{t}t {v:.1f}" for t, v in sorted(limits.fma_together.items()) if t > 1)
        out.append(f"FMA peak [{limits.isa} loop]: {limits.fma_1t:.1f} GFLOP/s on one thread; %peak = GFLOP/s / "
                   f"(that x threads)" + (f"; all threads at once, measured now: {together} GFLOP/s" if together else ""))
    elif limits.note:
        out.append(f"FMA peak: {limits.note}")
    if limits.copy:
        out.append("copy bandwidth (numpy copy, read + write): "
                   + ", ".join(f"{t}t {v:.1f} GB/s" for t, v in sorted(limits.copy.items()))
                   + "; %copy = GB/s / that")
    return out


def format_tables(rows, limits=None) -> str:
    parts = []
    conv = [r for r in rows if r.op == "conv"]
    pool = [r for r in rows if r.op != "conv"]
    if conv:
        header = ("case", "pass", "layout", "thr", "check", "GFLOP", "fastconv ms", "GFLOP/s", "%peak",
                  "torch ms", "torch %peak", "ratio", "numpy ms", "ratio", "others")
        lines = []
        for r in conv:
            lines.append((r.case, r.pass_, r.layout, str(r.threads), r.check, f"{r.work / 1e9:.3f}",
                          _ms(r.ms["fastconv"]), _num(r.rate()), _num(percent(r, limits), 0),
                          _ms(r.ms["torch"]), _num(percent(r, limits, "torch"), 0), _ratio(r.ratio("torch")),
                          _ms(r.ms["numpy"]), _ratio(r.ratio("numpy")), _num(r.others)))
        parts.append(_table(header, lines, left=5))
    if pool:
        header = ("case", "pass", "layout", "thr", "check", "MB", "fastconv ms", "GB/s", "%copy",
                  "torch ms", "torch %copy", "ratio", "numpy ms", "ratio", "others")
        lines = []
        for r in pool:
            lines.append((r.case, r.pass_, r.layout, str(r.threads), r.check, f"{r.work / 1e6:.1f}",
                          _ms(r.ms["fastconv"]), _num(r.rate()), _num(percent(r, limits), 0),
                          _ms(r.ms["torch"]), _num(percent(r, limits, "torch"), 0), _ratio(r.ratio("torch")),
                          _ms(r.ms["numpy"]), _ratio(r.ratio("numpy")), _num(r.others)))
        parts.append(_table(header, lines, left=5))
    return "\n\n".join(parts)


def _configs(rows) -> List[str]:
    seen: List[str] = []
    for r in sorted(rows, key=lambda r: (r.layout, r.threads)):
        if r.config not in seen:
            seen.append(r.config)
    return seen


def format_summary(rows) -> List[str]:
    """Geometric means of the ratios per pass (and per layout / thread count), and the validation count."""
    out = []
    for impl in ("torch", "numpy"):
        lines = []
        for label, selected in [(p, [r for r in rows if r.op == "conv" and r.pass_ == p]) for p in PASS_ORDER] + \
                               [(f"pool {p}", [r for r in rows if r.op != "conv" and r.pass_ == p])
                                for p in ("fwd", "bwd")]:
            ratios = [r.ratio(impl) for r in selected if r.ratio(impl) is not None]
            if not ratios:
                continue
            text = f"  {label:8s} {geomean(ratios):6.2f}x over {len(ratios):3d}"
            configs = _configs(selected)
            if len(configs) > 1:
                text += "   " + "   ".join(
                    f"{c} {geomean([r.ratio(impl) for r in selected if r.config == c]) or float('nan'):.2f}x"
                    for c in configs)
            lines.append(text)
        if lines:
            out.append(f"geomean ratio {impl} ms / fastconv ms (> 1: fastconv faster):")
            out += lines
    waited = [r.waited_s for r in rows if r.waited_s >= 0.5]
    if waited:
        out.append(f"waited for a quiet machine before {len(waited)} of {len(rows)} rows ({sum(waited):.0f} s in all)")
    retimed = [r for r in rows if r.first_others is not None]
    if retimed:
        out.append(f"re-timed {len(retimed)} rows measured while other processes were busy (their first measurement "
                   f"saw {sum(r.first_others for r in retimed) / len(retimed):.2f} cores busy on average, the kept "
                   f"one {sum(r.others for r in retimed) / len(retimed):.2f})")
    others = [r.others for r in rows if r.others is not None]
    if others:
        busy = sum(1 for v in others if v > BUSY_OTHERS)
        out.append(f"other processes kept {sum(others) / len(others):.2f} cores busy on average while rows were timed "
                   f"(most {max(others):.2f}); {busy} of {len(others)} rows above {BUSY_OTHERS} cores"
                   + (": their timings (multithreaded ones especially) are suspect" if busy else ""))
    checked = [r for r in rows if r.check != "-"]
    ok = sum(1 for r in checked if r.check == "ok")
    out.append(f"validation: {ok}/{len(checked)} ok")
    return out


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    text: str
    met: bool
    detail: str
    value: Optional[float] = None     # the measured ratio (worst case) or geomean or fraction

    def to_json(self) -> Dict[str, Any]:
        return {"target": self.text, "met": self.met, "value": self.value, "detail": self.detail}


def _worst_per_case(rows, value) -> Dict[str, Any]:
    """case -> (worst value, row) over the rows of that case with a value."""
    worst: Dict[str, Any] = {}
    for r in rows:
        v = value(r)
        if v is None:
            continue
        if r.case not in worst or v < worst[r.case][0]:
            worst[r.case] = (v, r)
    return worst


def _every(text: str, rows, value, threshold: float, list_all: bool = False, fmt=_ratio,
           limits=None) -> Optional[Target]:
    """Met when every row's value >= threshold; the detail names each case's worst (layout, threads).
    With `limits`, a ratio below the threshold also says what fastconv's % of peak (or of copy
    bandwidth) would have to be to meet it: above 100 % the target is out of reach by speed alone."""
    worst = _worst_per_case(rows, value)
    if not worst:
        return None
    below = {c: vr for c, vr in worst.items() if vr[0] < threshold}
    lowest_case = min(worst, key=lambda c: worst[c][0])
    lowest = worst[lowest_case][0]

    def item(c):
        v, r = worst[c]
        needed = _needed_percent(r, limits, v, threshold) if v < threshold else None
        return f"{c} {fmt(v)} ({r.pass_} {r.config}" + (f", needs {needed:.0f}% of {_limit_name(r)})" if needed
                                                         else ")")
    if list_all:
        detail = ", ".join(item(c) for c in worst)
    elif below:
        detail = f"{len(below)} of {len(worst)} cases below: " + ", ".join(item(c) for c in below)
    else:
        detail = f"all {len(worst)} cases; lowest {item(lowest_case)}"
    return Target(text, not below, detail, lowest)


def _needed_percent(row, limits, ratio: float, threshold: float) -> Optional[float]:
    """The % of peak (or of copy bandwidth) fastconv's row would need for its ratio to reach the
    threshold, the baseline's time held fixed."""
    pct = percent(row, limits)
    return None if pct is None or ratio <= 0 else pct * threshold / ratio


def _limit_name(row) -> str:
    return "peak" if row.op == "conv" else "copy"


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def evaluate_targets(rows, limits=None) -> List[Target]:
    """The CPU targets of BENCHMARKS.md that this run's rows measure. A target is met only when
    every layout and thread count measured meets it; each line names the worst."""
    conv = [r for r in rows if r.op == "conv"]
    pool = [r for r in rows if r.op != "conv"]
    torch_ratio = lambda r: r.ratio("torch")  # noqa: E731
    numpy_ratio = lambda r: r.ratio("numpy")  # noqa: E731
    targets: List[Optional[Target]] = []
    fwd = [r for r in conv if r.pass_ == "fwd"]
    bwd = [r for r in conv if r.pass_ == "bwd"]
    targets.append(_every("forward >= 1.0x torch on every case", fwd, torch_ratio, 1.0, limits=limits))
    g = geomean([torch_ratio(r) for r in fwd])
    if g is not None:
        n = sum(1 for r in fwd if torch_ratio(r) is not None)
        targets.append(Target("forward geomean >= 1.3x torch", g >= 1.3, f"{g:.2f}x over {n} rows", g))
    targets.append(_every("backward (dx+dw+db) >= 1.0x torch on every case", bwd, torch_ratio, 1.0, limits=limits))
    targets.append(_every("backward >= 2x torch on " + ", ".join(BWD_2X_CASES),
                          [r for r in bwd if r.case in BWD_2X_CASES], torch_ratio, 2.0, list_all=True,
                          limits=limits))
    targets.append(_every("depthwise forward and backward >= 3x torch",
                          [r for r in fwd + bwd if r.case.startswith("depthwise")], torch_ratio, 3.0, list_all=True,
                          limits=limits))
    targets.append(_every("pooling NCHW >= 10x torch", [r for r in pool if r.layout == "NCHW"], torch_ratio, 10.0,
                          list_all=True, limits=limits))
    targets.append(_every("pooling NHWC >= 1.0x torch", [r for r in pool if r.layout == "NHWC"], torch_ratio, 1.0,
                          list_all=True, limits=limits))
    if limits is not None:
        frac = lambda r: None if percent(r, limits) is None else percent(r, limits) / 100  # noqa: E731
        targets.append(_every("pooling >= 70% of copy bandwidth", pool, frac, 0.7, list_all=True, fmt=_pct))
    targets.append(_every(">= 3x the NumPy im2col baseline on every case",
                          [r for r in conv if r.pass_ in ("fwd", "bwd")], numpy_ratio, 3.0, limits=limits))
    return [t for t in targets if t is not None]


def format_targets(targets: List[Target]) -> List[str]:
    out = ["targets (BENCHMARKS.md; met only if every layout and thread count measured meets it; "
           "worst (pass layout threads) in brackets):"]
    for t in targets:
        out.append(f"  {'met   ' if t.met else 'MISSED'}  {t.text}: {t.detail}")
    met = sum(t.met for t in targets)
    out.append(f"targets met: {met}/{len(targets)}")
    return out


# --------------------------------------------------------------------------- plot


def plot(rows, limits, path: str, title: str = "fastconv bench") -> None:
    """Bars per case, one panel per pass, one bar per (layout, threads): the ratio vs torch on a log
    scale (or, without torch, fastconv's % of peak / % of copy bandwidth). Needs matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    have_torch = any(r.ratio("torch") is not None for r in rows)
    value = (lambda r: r.ratio("torch")) if have_torch else (lambda r: percent(r, limits))
    passes = [p for p in PASS_ORDER if any(r.pass_ == p for r in rows)]
    configs = _configs(rows)
    fig, axes = plt.subplots(len(passes), 1, figsize=(max(8.0, 0.9 * len({r.case for r in rows}) + 3),
                                                      2.8 * len(passes) + 0.6), squeeze=False)
    width = 0.8 / max(1, len(configs))
    for ax, pass_ in zip(axes[:, 0], passes):
        cases = []
        for r in rows:
            if r.pass_ == pass_ and r.case not in cases:
                cases.append(r.case)
        for j, config in enumerate(configs):
            xs, ys = [], []
            for i, case in enumerate(cases):
                match = [r for r in rows if r.pass_ == pass_ and r.case == case and r.config == config]
                v = value(match[0]) if match else None
                if v is not None and v > 0:
                    xs.append(i + (j - (len(configs) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width=width, label=config)
        if have_torch:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_ylabel(f"{pass_}: torch / fastconv")
        else:
            ax.axhline(100.0, color="black", linewidth=0.8)
            ax.set_ylabel(f"{pass_}: % of peak")
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(cases, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=max(1, len(configs)))
    axes[0, 0].set_title(title + (" - ratio > 1: fastconv faster" if have_torch else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
