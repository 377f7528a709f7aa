"""Markdown summary of a ``python -m fastconv bench --json FILE`` run, for RESULTS.md.

    python benchmarks/results_summary.py results.json > summary.md

Prints: the machine's measured limits, the targets (met / missed with the measured worst ratio),
and per case and pass the ratio vs torch and fastconv's % of peak for each layout and thread
count, with a mark on rows timed while other processes kept cores busy. The full text table is
what the bench itself prints; paste it beside this.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Optional

BUSY = 0.25   # report.BUSY_OTHERS


def _fmt_ratio(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _fmt_pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0f}%"


def summarize(data: Dict[str, Any]) -> str:
    meta, machine, rows = data["meta"], data["machine"], data["results"]
    out: List[str] = []
    peaks = machine.get("fma_peak_gflops", {})
    together = machine.get("fma_gflops_measured_together", {})
    copy = machine.get("copy_gbps", {})
    out.append(f"- FMA peak ({machine.get('isa')} loop): {machine.get('fma_gflops_1thread') or 0:.1f} GFLOP/s on one "
               f"thread; peak used for N threads = N x that ("
               + ", ".join(f"{t}t {v:.0f}" for t, v in peaks.items()) + "); all threads at once, measured: "
               + ", ".join(f"{t}t {v:.0f}" for t, v in together.items()) + " GFLOP/s")
    out.append("- Copy bandwidth (numpy copy, read + write): " + ", ".join(f"{t}t {v:.1f} GB/s" for t, v in copy.items()))
    others = [r["others"] for r in rows if r.get("others") is not None]
    if others:
        busy = sum(1 for v in others if v > BUSY)
        out.append(f"- Other processes kept {sum(others) / len(others):.2f} cores busy on average while rows were "
                   f"timed; {busy} of {len(others)} rows above {BUSY} (marked `*` below)")
    out.append(f"- Validation: {sum(r['check'] == 'ok' for r in rows)}/{len(rows)} ok")
    out.append("")

    if data.get("targets"):
        out.append("| target | result | measured (worst case: pass layout threads) |")
        out.append("|---|---|---|")
        for t in data["targets"]:
            out.append(f"| {t['target']} | {'met' if t['met'] else '**missed**'} | {t['detail']} |")
        out.append("")

    configs: List[str] = []
    for r in sorted(rows, key=lambda r: (r["layout"], r["threads"])):
        c = f"{r['layout']} {r['threads']}t"
        if c not in configs:
            configs.append(c)
    out.append("Ratio torch ms / fastconv ms (> 1: fastconv faster) and fastconv's % of peak (pools: % of copy "
               "bandwidth), per layout and thread count; `*` = timed while other processes kept > "
               f"{BUSY} cores busy.")
    out.append("")
    out.append("| case | pass | " + " | ".join(configs) + " |")
    out.append("|---|---|" + "---|" * len(configs))
    seen: List[tuple] = []
    for r in rows:
        key = (r["case"], r["pass"])
        if key in seen:
            continue
        seen.append(key)
        cells = []
        for c in configs:
            match = [x for x in rows if (x["case"], x["pass"]) == key and f"{x['layout']} {x['threads']}t" == c]
            if not match:
                cells.append("")
                continue
            x = match[0]
            pct = (x.get("pct_of_peak") or x.get("pct_of_copy") or {}).get("fastconv")
            mark = "*" if (x.get("others") or 0) > BUSY else ""
            cells.append(f"{_fmt_ratio(x.get('ratio_torch'))} ({_fmt_pct(pct)}){mark}")
        out.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        print(summarize(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
