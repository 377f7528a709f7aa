"""The machine's limits, measured in the bench's own run: FMA throughput (the "% of peak" of the
convolution rows) and memory copy bandwidth (the "% of copy" of the pooling rows).

- **FMA peak**: ``fastconv._C.fma_peak_gflops``, a native loop over many independent vector
  accumulators in the selected ISA (``csrc/cpu/ukernels/fma_peak__*.cpp``): no memory traffic, no
  dependency chains, so it runs at the cores' FMA issue rate. The best of a few runs of one thread
  is the peak; N threads' peak is taken as N times that (the cores' FMA units are independent).
  The same loop on N pool threads at once is measured too and reported beside it: when it falls
  short of N x one thread, other processes hold cores and every multithreaded number of the run
  is suspect.
- **Copy bandwidth**: ``numpy.copyto`` of a 128 MiB float32 array (far beyond the last-level cache)
  split over N Python threads (NumPy releases the GIL for plain copies); bytes read + bytes
  written per second, best of a few runs.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional

import numpy as np

__all__ = ["MachineLimits", "OtherLoad", "fma_peak", "copy_bandwidth", "measure"]

PEAK_SECONDS = 0.08      # per FMA-loop run
PEAK_TRIES = 3
COPY_MIB = 128
COPY_TRIES = 5


@dataclass
class MachineLimits:
    isa: str = "?"
    fma_1t: Optional[float] = None                                   # GFLOP/s, one thread
    fma_together: Dict[int, float] = field(default_factory=dict)    # GFLOP/s, N threads at once
    copy: Dict[int, float] = field(default_factory=dict)            # GB/s (read + write), N threads
    note: str = ""

    def peak(self, threads: int) -> Optional[float]:
        """The FMA peak of `threads` threads: one thread's times `threads`."""
        return None if self.fma_1t is None else self.fma_1t * threads

    def to_json(self) -> Dict[str, object]:
        return {"isa": self.isa, "fma_gflops_1thread": self.fma_1t,
                "fma_peak_gflops": {str(t): self.peak(t) for t in sorted(self.fma_together)},
                "fma_gflops_measured_together": {str(t): v for t, v in sorted(self.fma_together.items())},
                "copy_gbps": {str(t): v for t, v in sorted(self.copy.items())},
                "note": self.note}


def fma_peak(threads: int = 1, seconds: float = PEAK_SECONDS, tries: int = PEAK_TRIES) -> Optional[float]:
    """Best GFLOP/s of `tries` runs of the native FMA loop on `threads` pool threads (None when the
    extension lacks it). Sets fastconv's thread count to `threads` (the caller restores it)."""
    import fastconv
    from fastconv import _C

    if not hasattr(_C, "fma_peak_gflops"):
        return None
    fastconv.set_num_threads(threads)
    return max(float(_C.fma_peak_gflops(seconds, threads)) for _ in range(max(1, tries)))


def copy_bandwidth(threads: int = 1, mib: int = COPY_MIB, tries: int = COPY_TRIES) -> float:
    """Best GB/s (bytes read + bytes written) of `tries` copies of a `mib` MiB float32 array, the
    copy split evenly over `threads` Python threads."""
    n = (mib << 20) // 4
    src = np.ones(n, np.float32)
    dst = np.zeros_like(src)                     # touched: no page faults inside the timing
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    pieces = [(dst[lo:hi], src[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    best = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(max(1, tries)):
            t0 = time.perf_counter()
            if threads == 1:
                np.copyto(dst, src)
            else:
                list(pool.map(lambda p: np.copyto(*p), pieces))
            best = max(best, 2 * src.nbytes / (time.perf_counter() - t0) / 1e9)
    return best


def measure(thread_counts: Iterable[int], quick: bool = False) -> MachineLimits:
    """FMA peak and copy bandwidth for each thread count (fastconv's thread count is restored)."""
    import fastconv

    thread_counts = sorted(set(thread_counts))
    limits = MachineLimits(isa=str(fastconv.build_info().get("cpu_isa_selected", "?")))
    seconds, tries = (0.02, 2) if quick else (PEAK_SECONDS, PEAK_TRIES)
    saved = fastconv.get_num_threads()
    try:
        limits.fma_1t = fma_peak(1, seconds, tries)
        if limits.fma_1t is None:
            limits.note = "this build of the extension has no fma_peak_gflops: % of peak not reported"
        else:
            for t in thread_counts:
                limits.fma_together[t] = limits.fma_1t if t == 1 else fma_peak(t, seconds, tries)
    finally:
        fastconv.set_num_threads(saved)
    for t in thread_counts:
        limits.copy[t] = copy_bandwidth(t, mib=32 if quick else COPY_MIB, tries=3 if quick else COPY_TRIES)
    return limits


class OtherLoad:
    """How many cores other processes kept busy between two samples (Linux; None elsewhere):
    the machine's busy CPU time (/proc/stat, hypervisor steal included) minus this process's own
    (all its threads), over the wall time. Sample with ``start()``, read with ``cores()``."""

    def __init__(self):
        self._t0 = self._busy0 = self._self0 = None

    @staticmethod
    def _machine_busy() -> Optional[float]:
        try:
            with open("/proc/stat") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        if len(fields) < 4:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)       # idle + iowait
        guest = sum(fields[8:10]) if len(fields) > 9 else 0.0           # already inside user/nice
        return (sum(fields) - idle - guest) / _clock_ticks()

    @staticmethod
    def _self_cpu() -> float:
        t = os.times()
        return t.user + t.system

    def start(self) -> "OtherLoad":
        self._t0, self._busy0, self._self0 = time.perf_counter(), self._machine_busy(), self._self_cpu()
        return self

    def cores(self) -> Optional[float]:
        busy = self._machine_busy()
        if busy is None or self._busy0 is None:
            return None
        wall = time.perf_counter() - self._t0
        if wall <= 0:
            return None
        other = (busy - self._busy0) - (self._self_cpu() - self._self0)
        return max(0.0, other / wall)


def _clock_ticks() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0
