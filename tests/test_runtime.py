"""Runtime controls and introspection: threads, build_info, cuda_available, fork and thread safety."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastconv as fc

from conv_cases import run_under_isa


def test_num_threads_roundtrip():
    saved = fc.get_num_threads()
    try:
        fc.set_num_threads(1)
        assert fc.get_num_threads() == 1
        fc.set_num_threads(3)
        assert fc.get_num_threads() == 3
    finally:
        fc.set_num_threads(saved)


def test_default_threads_are_usable_cores():
    code = "import fastconv, os; print(fastconv.get_num_threads(), len(os.sched_getaffinity(0)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1]


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError),
                                      (True, TypeError)])
def test_set_num_threads_rejects(bad, exc):
    with pytest.raises(exc, match="n"):
        fc.set_num_threads(bad)


def test_build_info_keys():
    info = fc.build_info()
    for key in ("version", "compiler", "cpu_isa_compiled", "cpu_isa_selected", "cpu_features", "cuda",
                "cuda_archs", "cuda_devices", "num_threads"):
        assert key in info, key
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["version"], str) and info["version"]
    assert fc.cuda_available() == (info["cuda"] and len(info["cuda_devices"]) > 0)


def test_cuda_available_is_false_without_gpu():
    has_gpu = os.path.exists("/dev/nvidia0")
    if not has_gpu:
        assert fc.cuda_available() is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_survives_fork():
    """A child forked after the pool ran must get a working pool of its own (no hang)."""
    code = """
import os, sys, numpy as np, fastconv as fc
fc.set_num_threads(2)
x = np.random.default_rng(0).standard_normal((4, 8, 16, 16)).astype(np.float32)
w = np.ones((8, 8, 3, 3), np.float32)
y = fc.conv2d(x, w)
pid = os.fork()
if pid == 0:
    ok = np.array_equal(fc.conv2d(x, w), y)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 0


def test_calls_from_several_python_threads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    expected = fc.conv2d(x, w, None, 1, 1)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(fc.conv2d(x, w, None, 1, 1))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 20
    for r in results:
        assert r.tobytes() == expected.tobytes()


@pytest.mark.parametrize("threads", [2, 3])
def test_regions_while_workers_park_and_wake(threads):
    """Calls spaced to find the pool's workers spinning, waking or parked (small regions, such as a
    filter packing or a sum of partials, close before a late worker joins) give the 1-thread bits."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 48, 48, 64)).astype(np.float32)
    w = rng.standard_normal((32, 1, 1, 64)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    dys = {s: rng.standard_normal((4, 48 // s, 48 // s, 32)).astype(np.float32) for s in (1, 2)}

    def step():
        out = []
        for s, dy in dys.items():
            out.append(fc.conv2d(x, w, b, stride=s, layout="NHWC"))
            out.extend(fc.conv2d_backward(dy, x, w, b, stride=s, layout="NHWC"))
        return [r.tobytes() for r in out]

    saved = fc.get_num_threads()
    try:
        fc.set_num_threads(1)
        expected = step()
        fc.set_num_threads(threads)
        for pause in (0.0, 1e-4, 5e-4, 2e-3) * 5:
            time.sleep(pause)
            assert step() == expected
    finally:
        fc.set_num_threads(saved)


def test_gpu_array_without_gpu_kernel_is_a_clear_error():
    class FakeCudaArray:
        __cuda_array_interface__ = {"shape": (1, 1, 4, 4), "typestr": "<f4", "data": (0, False), "version": 3}

    with pytest.raises(ValueError, match="one device"):
        fc.conv2d(FakeCudaArray(), np.zeros((1, 1, 3, 3), np.float32))
    if not fc.cuda_available():
        with pytest.raises(RuntimeError, match="GPU"):
            fc.max_pool2d(FakeCudaArray(), 2)


def test_isa_paths_compiled_and_selected():
    info = fc.build_info()
    assert "scalar" in info["cpu_isa_compiled"]
    assert info["cpu_isa_selected"] in info["cpu_isa_compiled"]
    if "avx512f" in info["cpu_features"] and "avx512" in info["cpu_isa_compiled"] and not os.environ.get("FASTCONV_ISA"):
        assert info["cpu_isa_selected"] == "avx512"


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_path_matches_reference(isa):
    """FASTCONV_ISA caps the path; each one the machine supports must pass the conv checks."""
    run_under_isa(isa, """
from conv_cases import check_all_passes
for case in [(2, 5, 9, 8, 13, 3, 3, 1, 1, 1, 1), (1, 70, 9, 9, 66, 3, 3, 2, 1, 1, 1), (2, 6, 10, 9, 12, 3, 3, 1, 1, 2, 3)]:
    for dt in (np.float32, np.float64):
        for layout in ("NCHW", "NHWC"):
            check_all_passes(rng, *case, dtype=dt, layout=layout)
""")
