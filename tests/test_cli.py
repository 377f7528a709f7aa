"""The command line (`python -m fastconv info | bench`), the benchmark suite's data and the bench's
NumPy baseline and validation helpers. The subprocess runs are small: the whole file takes seconds."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv.cli import bench, build_parser, main
from fastconv.testing import numpy_baseline
from fastconv.testing import problems, reference

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def run_cli(*args, timeout=120):
    """`python -m fastconv ARGS` with the same fastconv this test imported."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "fastconv", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# --------------------------------------------------------------------------- the suite as data


def test_suite_matches_benchmarks_md():
    names = [p.name for p in problems.ALL_PROBLEMS]
    assert len(names) == len(set(names))
    conv = {p.name: p for p in problems.CONV_PROBLEMS}
    # GFLOP column of BENCHMARKS.md
    for name, gflop in [("seed.conv1", 0.025), ("seed.conv2", 0.285), ("seed.conv3", 0.042),
                        ("resnet.3x3.56", 1.850), ("resnet.1x1.56", 0.822), ("resnet.3x3.s2", 0.925),
                        ("resnet.1x1.s2", 0.411), ("stem.7x7.s2", 0.944), ("depthwise.3x3", 0.058)]:
        assert round(conv[name].fprop_flops / 1e9, 3) == pytest.approx(gflop, abs=1e-3), name
    stem = conv["stem.7x7.s2"]
    assert (stem.P, stem.Q) == (112, 112)
    assert stem.x_shape("NHWC") == (4, 224, 224, 3) and stem.w_shape("NHWC") == (64, 7, 7, 3)
    dw = conv["depthwise.3x3"]
    assert dw.w_shape() == (128, 1, 3, 3) and dw.fprop_reduction == 9
    assert dw.backward_flops == 2 * dw.fprop_flops + 8 * 128 * 56 * 56
    pools = {p.name: p for p in problems.POOL_PROBLEMS}
    assert (pools["maxpool.3x3.s2"].P, pools["seed.maxpool.2x2"].P) == (56, 13)
    assert all(p.kind == "max" for p in problems.POOL_PROBLEMS)


def test_select_and_with_batch():
    assert [p.name for p in problems.select(["seed.conv"])] == ["seed.conv1", "seed.conv2", "seed.conv3"]
    assert {p.name for p in problems.select(["s2"])} == {"resnet.3x3.s2", "resnet.1x1.s2", "stem.7x7.s2",
                                                        "maxpool.3x3.s2"}
    assert problems.select([]) == problems.ALL_PROBLEMS
    assert problems.select(["nothing-like-this"]) == []
    small = problems.CONV_PROBLEMS[0].with_batch(2)
    assert small.N == 2 and small.x_shape() == (2, 1, 28, 28)
    with pytest.raises(ValueError):
        problems.PoolProblem("bad", "min", 1, 1, 4, 4, 2, 2)


# --------------------------------------------------------------------------- bench helpers


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("N,C,K,H,k,s,p,g", [(2, 4, 6, 9, 3, 1, 1, 1), (2, 6, 4, 10, 3, 2, 1, 2),
                                             (1, 8, 8, 7, 1, 2, 0, 1), (2, 4, 4, 8, 3, 1, 1, 4),
                                             (1, 3, 5, 11, 5, 2, 2, 1)])
def test_numpy_conv_baseline_matches_reference(layout, N, C, K, H, k, s, p, g):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = rng.standard_normal((K, C // g, k, k)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    stored = (lambda a: a) if layout == "NCHW" else (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)))
    logical = (lambda a: a) if layout == "NCHW" else (lambda a: a.transpose(0, 3, 1, 2))
    y = numpy_baseline.conv2d(stored(x), stored(w), b, s, p, g, layout)
    y_ref = reference.conv2d(x, w, b, s, p, 1, g)
    assert y.dtype == np.float32
    np.testing.assert_allclose(logical(y), y_ref, atol=1e-4)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    dx, dw, db = numpy_baseline.conv2d_backward(stored(dy), stored(x), stored(w), b, s, p, g, layout)
    assert dx.shape == stored(x).shape and dw.shape == stored(w).shape
    np.testing.assert_allclose(logical(dx), reference.conv2d_dgrad(dy, x.shape, w, s, p, 1, g), atol=1e-4)
    np.testing.assert_allclose(logical(dw), reference.conv2d_wgrad(dy, x, w.shape, s, p, 1, g), atol=1e-3)
    np.testing.assert_allclose(db, reference.conv2d_bgrad(dy), atol=1e-4)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k,s,p", [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_numpy_pool_baseline_matches_reference(layout, kind, k, s, p):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    stored = (lambda a: a) if layout == "NCHW" else (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)))
    logical = (lambda a: a) if layout == "NCHW" else (lambda a: a.transpose(0, 3, 1, 2))
    y = numpy_baseline.pool2d(stored(x), kind, k, s, p, layout)
    y_ref = reference.max_pool2d(x, k, s, p)[0] if kind == "max" else reference.avg_pool2d(x, k, s, p)
    np.testing.assert_allclose(logical(y), y_ref, atol=1e-6)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    dx = numpy_baseline.pool2d_backward(stored(dy), stored(x), kind, k, s, p, layout)
    dx_ref = (reference.max_pool2d_dgrad(dy, x, k, s, p) if kind == "max"
              else reference.avg_pool2d_dgrad(dy, x.shape, k, s, p))
    np.testing.assert_allclose(logical(dx), dx_ref, atol=1e-6)


def test_compare_catches_errors():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((4, 5, 6, 6))
    out = ref.astype(np.float32)
    assert bench.compare(out, ref, 9) < 0.1
    bad = out.copy()
    bad[1, 2, 3, 4] += 1e-3 * np.abs(ref).max()
    assert bench.compare(bad, ref, 9) > 1
    nan = out.copy()
    nan[0, 0, 0, 0] = np.nan
    assert bench.compare(nan, ref, 9) == float("inf")
    assert bench.compare(out[:, :, :5], ref, 9) == float("inf")
    assert bench.compare(out, ref, 9, exact=True) == float("inf")  # float32 rounding is not exact
    assert bench.compare(out, out.astype(np.float64), 1, exact=True) == 0


def test_time_interleaved_stops_on_repeat_and_caps():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = bench.time_interleaved(fns, repeat=4, budget=10.0, warmup=1, max_runs={"b": 2})
    assert len(times["a"]) == 4 and len(times["b"]) == 2
    assert calls[:2] == ["a", "b"] and calls[2:6] == ["a", "b", "a", "b"]  # warmup, then interleaved


def _ctx(fc_module, layout="NCHW"):
    return bench.Context(fc=fc_module, reference=reference, baseline=numpy_baseline, torch=None, layout=layout,
                         repeat=2, budget=0.01, warmup=0, progress=bench.Progress(1))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bench_rows_validate_and_catch_a_wrong_kernel(layout):
    prob = problems.ConvProblem("tiny", N=2, C=4, K=6, H=7, W=7, kernel=3, stride=2, pad=1, groups=2)
    rows = bench.bench_conv(prob, _ctx(fastconv, layout))
    assert [(r.pass_, r.check) for r in rows] == [("fwd", "ok"), ("bwd", "ok")]
    assert all(r.ms["fastconv"] > 0 and r.ms["torch"] is None and r.ms["numpy"] > 0 for r in rows)

    class OffByOne:  # shifts the output by one pixel: what a padding bug looks like
        def __getattr__(self, name):
            return getattr(fastconv, name)

        def conv2d(self, *args, **kwargs):
            y = fastconv.conv2d(*args, **kwargs)
            return np.roll(y, 1, axis=-1 if layout == "NCHW" else -2)

    rows = bench.bench_conv(prob, _ctx(OffByOne(), layout))
    assert [(r.pass_, r.check) for r in rows] == [("fwd", "FAIL"), ("bwd", "ok")]
    pool = problems.PoolProblem("tinypool", "avg", N=2, C=3, H=9, W=9, kernel=3, stride=2, pad=1)
    rows = bench.bench_pool(pool, _ctx(fastconv, layout))
    assert [(r.pass_, r.check) for r in rows] == [("fwd", "ok"), ("bwd", "ok")]


def test_parser():
    args = build_parser().parse_args(["bench", "--case", "seed", "--case", "stem", "--layout", "nhwc",
                                      "--threads", "1", "--repeat", "3", "--quick", "--json", "out.json"])
    assert (args.case, args.layout, args.threads, args.repeat, args.quick, args.json) == \
        (["seed", "stem"], "NHWC", 1, 3, True, "out.json")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--layout", "NCWH"])
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


def test_bench_list(capsys):
    assert main(["bench", "--list", "--case", "seed"]) == 0
    out = capsys.readouterr().out
    assert "seed.conv1" in out and "seed.maxpool.2x2" in out and "resnet" not in out


def test_bench_no_matching_case(capsys):
    assert main(["bench", "--case", "no-such-case"]) == 2
    assert "no case matches" in capsys.readouterr().err


# --------------------------------------------------------------------------- subprocesses


def test_info():
    res = run_cli("info")
    assert res.returncode == 0, res.stderr
    for key in ("version", "compiler", "cpu isa compiled", "cpu isa selected", "cpu isa detected", "cuda",
                "cuda archs", "gpus", "threads"):
        assert key in res.stdout
    assert re.search(rf"^\s+threads\s+{fastconv.get_num_threads()}\b", res.stdout, re.M), res.stdout
    res = run_cli("info", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["num_threads"] >= 1 and "cuda" in info and "version" in info


def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    res = run_cli("bench", "--quick", "--case", "seed.conv3", "--case", "seed.maxpool", "--threads", "1",
                  "--json", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    header = next(line for line in lines if line.startswith("case") and "GFLOP/s" in line).split()
    assert header[:4] == ["case", "pass", "check", "GFLOP"]
    for col in ("fastconv", "torch", "numpy", "ratio"):
        assert col in header
    assert any(line.startswith("case") and "GB/s" in line for line in lines)
    for case in ("seed.conv3", "seed.maxpool.2x2"):
        for pass_ in ("fwd", "bwd"):
            assert any(line.split()[:3] == [case, pass_, "ok"] for line in lines), (case, pass_, res.stdout)
    assert "validation: 4/4 ok" in res.stdout
    assert "1 threads" in res.stdout
    assert "seed.conv3" in res.stderr  # progress
    data = json.loads(out.read_text())
    assert data["meta"]["threads"] == 1 and data["meta"]["quick"] is True
    assert [(r["case"], r["pass"], r["check"]) for r in data["results"]] == [
        ("seed.conv3", "fwd", "ok"), ("seed.conv3", "bwd", "ok"),
        ("seed.maxpool.2x2", "fwd", "ok"), ("seed.maxpool.2x2", "bwd", "ok")]
    for r in data["results"]:
        assert r["ms"]["fastconv"] > 0 and r["runs"]["fastconv"] >= 1 and r["err_over_tol"] <= 1


def test_bench_quick_nhwc():
    res = run_cli("bench", "--quick", "--case", "seed.conv3", "--layout", "NHWC", "--repeat", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "layout NHWC" in res.stdout
    assert "validation: 2/2 ok" in res.stdout
