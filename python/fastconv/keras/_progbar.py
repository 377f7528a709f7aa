"""The per-epoch progress line of ``fit``/``evaluate``/``predict``, as Keras prints it.

verbose=1: a bar redrawn in place (on a terminal; elsewhere only the finished line) with the step
count, time (ETA while running), time per step and the running metrics; verbose=2: the finished line.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, Optional, TextIO

WIDTH = 20


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms"


def _per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    def __init__(self, target: int, verbose: int = 1, stream: Optional[TextIO] = None, interval: float = 0.05):
        self.target = target
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._dynamic = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn_width = 0

    def update(self, step: int, logs: Dict[str, float], finalize: bool = False) -> None:
        if self.verbose == 0:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if not finalize:
            if self.verbose != 1 or not self._dynamic or now - self._last_draw < self.interval:
                return
        self._last_draw = now
        per_step = elapsed / max(step, 1)
        metrics = "".join(f" - {k}: {_fmt(v)}" for k, v in logs.items())
        width = len(str(self.target))
        if self.verbose == 2:
            line = f"{step}/{self.target} - {_duration(elapsed)} - {_per_step(per_step)}{metrics}"
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        filled = WIDTH if self.target == 0 else int(WIDTH * step / self.target)
        bar = "\u2501" * filled + " " * (WIDTH - filled)
        when = _duration(elapsed) if finalize else "ETA " + _duration(per_step * (self.target - step))
        line = f"{step:>{width}}/{self.target} {bar} {when} {_per_step(per_step)}{metrics}"
        if self._dynamic:
            pad = max(0, self._drawn_width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._drawn_width = len(line)
            if finalize:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"
