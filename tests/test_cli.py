"""The command line (`python -m fastconv info | bench`), the benchmark suite's data and the bench's
NumPy baseline and validation helpers. The subprocess runs are small: the whole file takes seconds."""

import json
import os
import re
import subprocess
import sys
import time

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


def _ctx(fc_module):
    return bench.Context(fc=fc_module, reference=reference, baseline=numpy_baseline, torch=None,
                         repeat=2, budget=0.01, warmup=0, progress=bench.Progress(1))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_bench_rows_validate_and_catch_a_wrong_kernel(layout):
    prob = problems.ConvProblem("tiny", N=2, C=4, K=6, H=7, W=7, kernel=3, stride=2, pad=1, groups=2)
    case = bench.ConvCase(prob, reference)
    rows = [bench.bench_conv(case, p, layout, 1, _ctx(fastconv)) for p in bench.PASSES]
    assert [(r.pass_, r.check, r.layout, r.threads) for r in rows] == [(p, "ok", layout, 1) for p in bench.PASSES]
    assert all(r.ms["fastconv"] > 0 and r.ms["torch"] is None and r.ms["numpy"] > 0 for r in rows)
    assert [r.work for r in rows] == [prob.flops(p) for p in bench.PASSES]

    class OffByOne:  # shifts the output by one pixel: what a padding bug looks like
        def __getattr__(self, name):
            return getattr(fastconv, name)

        def conv2d(self, *args, **kwargs):
            y = fastconv.conv2d(*args, **kwargs)
            return np.roll(y, 1, axis=-1 if layout == "NCHW" else -2)

    class WrongGrads:  # dw off by one tap, and a gradient computed although not asked for
        def __getattr__(self, name):
            return getattr(fastconv, name)

        def conv2d_backward(self, *args, needs_input_grad=(True, True, True), **kwargs):
            dx, dw, db = fastconv.conv2d_backward(*args, needs_input_grad=(True, True, True), **kwargs)
            return dx, np.roll(dw, 1, axis=-1 if layout == "NCHW" else -2), (db if needs_input_grad[2] else db)

    bad = [bench.bench_conv(case, p, layout, 1, _ctx(OffByOne())) for p in ("fwd", "bwd")]
    assert [(r.pass_, r.check) for r in bad] == [("fwd", "FAIL"), ("bwd", "ok")]
    bad = [bench.bench_conv(case, p, layout, 1, _ctx(WrongGrads())) for p in ("bwd", "dx", "dw", "db")]
    assert [r.check for r in bad] == ["FAIL", "FAIL", "FAIL", "FAIL"]  # dx and db: dw came back unasked
    assert "dw" in bad[0].note

    pool = problems.PoolProblem("tinypool", "avg", N=2, C=3, H=9, W=9, kernel=3, stride=2, pad=1)
    pcase = bench.PoolCase(pool, reference)
    rows = [bench.bench_pool(pcase, p, layout, 1, _ctx(fastconv)) for p in ("fwd", "bwd")]
    assert [(r.pass_, r.check) for r in rows] == [("fwd", "ok"), ("bwd", "ok")]
    maxpool = problems.PoolProblem("tinymax", "max", N=2, C=3, H=9, W=9, kernel=3, stride=2, pad=1)
    rows = [bench.bench_pool(bench.PoolCase(maxpool, reference), p, layout, 1, _ctx(fastconv)) for p in ("fwd", "bwd")]
    assert [(r.pass_, r.check) for r in rows] == [("fwd", "ok"), ("bwd", "ok")]


def test_run_plan_orders_rows_and_retries_busy_ones():
    from fastconv.cli import report
    conv = problems.ConvProblem("tiny", N=2, C=4, K=4, H=6, W=6, kernel=3, pad=1)
    pool = problems.PoolProblem("tinypool", "max", N=2, C=3, H=8, W=8, kernel=2, stride=2)
    plan = bench.Plan([conv, pool], ("fwd", "dw"), ("NCHW", "NHWC"), (1, 2))
    ctx = _ctx(fastconv)
    saved = fastconv.get_num_threads()
    try:
        rows = bench.run_plan(plan, ctx)
        assert [(r.case, r.pass_, r.layout, r.threads) for r in rows] == \
            [("tiny", p, lay, t) for p in ("fwd", "dw") for lay in ("NCHW", "NHWC") for t in (1, 2)] + \
            [("tinypool", "fwd", lay, t) for lay in ("NCHW", "NHWC") for t in (1, 2)]
        assert ctx.index == plan.count() == len(rows) and all(r.check == "ok" for r in rows)
        rows[3].others = 99.0          # as if another process had held 99 cores meanwhile
        assert bench.retry_busy(rows, plan, ctx, threshold=50.0) == 1
        assert rows[3].others < 99.0 and rows[3].first_others == 99.0
        assert any(line.startswith("re-timed 1 rows") for line in report.format_summary(rows))
        assert (rows[3].case, rows[3].pass_, rows[3].layout, rows[3].threads) == ("tiny", "fwd", "NHWC", 2)
    finally:
        fastconv.set_num_threads(saved)


def test_wait_for_quiet():
    t0 = time.perf_counter()
    assert bench.wait_for_quiet(10.0, sample_s=0.01, threshold=1e9) < 1.0   # quiet by definition: no wait
    assert bench.wait_for_quiet(0.0, sample_s=0.01, threshold=-1.0) < 1.0   # never quiet, but no time to wait
    assert time.perf_counter() - t0 < 2.0
    args = build_parser().parse_args(["bench", "--wait-quiet", "2.5", "--retry-busy", "1"])
    assert (args.wait_quiet, args.retry_busy) == (2.5, 1)


def test_cases_share_inputs_and_references_across_layouts():
    prob = problems.ConvProblem("tiny", N=2, C=3, K=4, H=6, W=6, kernel=3, pad=1)
    case = bench.ConvCase(prob, reference)
    x, w, b, dy = case.arrays("NCHW")
    xh, wh, bh, dyh = case.arrays("NHWC")
    assert xh.shape == prob.x_shape("NHWC") and wh.shape == prob.w_shape("NHWC") and xh.flags.c_contiguous
    np.testing.assert_array_equal(xh.transpose(0, 3, 1, 2), x)
    np.testing.assert_array_equal(wh.transpose(0, 3, 1, 2), w)
    assert case.ref("y") is case.ref("y")  # computed once
    assert bench.ConvCase(prob, reference).x.tobytes() == x.tobytes()  # seeded by the name


def test_parser():
    args = build_parser().parse_args(["bench", "--case", "seed", "--case", "stem", "--layout", "nhwc",
                                      "--threads", "1", "--repeat", "3", "--quick", "--json", "out.json",
                                      "--pass", "dx,dw", "--pass", "fwd", "--plot", "out.png"])
    assert (args.case, args.layouts, args.threads, args.repeat, args.quick, args.json, args.passes, args.plot) == \
        (["seed", "stem"], [("NHWC",)], [(1,)], 3, True, "out.json", [("dx", "dw"), ("fwd",)], "out.png")
    cores = bench._usable_cores()
    args = build_parser().parse_args(["bench", "--threads", "1,all", "--layout", "both", "--pass", "all", "--full"])
    assert args.threads == [(1, cores)] and args.layouts == [("NCHW", "NHWC")] and args.passes == [bench.PASSES]
    assert args.full
    for bad in (["--layout", "NCWH"], ["--pass", "fwd,sideways"], ["--threads", "0"], ["--threads", "many"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["bench", *bad])
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


def test_plan_default_full_and_narrowed():
    parse = lambda *a: build_parser().parse_args(["bench", *a])  # noqa: E731
    cores = bench._usable_cores()
    suite = problems.ALL_PROBLEMS
    n_conv, n_pool = len(problems.CONV_PROBLEMS), len(problems.POOL_PROBLEMS)
    plan = bench.make_plan(parse(), suite)
    assert (plan.passes, plan.layouts, plan.threads) == (("fwd", "bwd"), ("NCHW", "NHWC"), (cores,))
    assert plan.count() == (n_conv + n_pool) * 2 * 2
    plan = bench.make_plan(parse("--full"), suite)
    assert (plan.passes, plan.layouts, plan.threads) == (bench.PASSES, ("NCHW", "NHWC"), tuple(sorted({1, cores})))
    assert plan.count() == (n_conv * 5 + n_pool * 2) * 2 * len(plan.threads)
    plan = bench.make_plan(parse("--full", "--threads", "1", "--layout", "NHWC", "--pass", "dw,fwd"), suite)
    assert (plan.passes, plan.layouts, plan.threads) == (("fwd", "dw"), ("NHWC",), (1,))
    assert plan.count() == n_conv * 2 + n_pool
    assert bench.make_plan(parse("--pass", "db"), problems.POOL_PROBLEMS).count() == 0


def test_problem_work_per_pass():
    conv = problems.CONV_PROBLEMS[3]
    assert conv.flops("bwd") == conv.flops("dx") + conv.flops("dw") + conv.flops("db") == conv.backward_flops
    assert conv.flops("db") == conv.N * conv.K * conv.P * conv.Q
    pool = problems.POOL_PROBLEMS[0]
    assert (pool.bytes("fwd"), pool.bytes("bwd")) == (pool.fprop_bytes(), pool.backward_bytes())
    with pytest.raises(ValueError):
        conv.flops("sideways")
    with pytest.raises(ValueError):
        pool.bytes("dw")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_numpy_backward_baseline_needs(layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    dy = rng.standard_normal((2, 6, 4, 4)).astype(np.float32)
    st = (lambda a: a) if layout == "NCHW" else (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)))
    full = numpy_baseline.conv2d_backward(st(dy), st(x), st(w), b, 2, 1, 2, layout)
    for needs in [(True, False, False), (False, True, False), (False, False, True)]:
        part = numpy_baseline.conv2d_backward(st(dy), st(x), st(w), b, 2, 1, 2, layout, needs=needs)
        for need, got, want in zip(needs, part, full):
            if need:
                np.testing.assert_array_equal(got, want)
            else:
                assert got is None


# --------------------------------------------------------------------------- report


def _row(case, pass_, layout="NCHW", threads=2, fast=1.0, torch=None, numpy=None, op="conv", work=1e9):
    r = bench.Row(case, op, pass_, "-", layout, threads, check="ok", work=work)
    r.ms.update(fastconv=fast, torch=torch, numpy=numpy)
    return r


def test_targets_met_and_missed():
    from fastconv.cli import peak, report
    limits = peak.MachineLimits(isa="avx512", fma_1t=100.0, fma_together={2: 190.0}, copy={2: 25.0})
    rows = [_row("seed.conv1", "fwd", torch=1.5, numpy=4.0), _row("seed.conv1", "fwd", "NHWC", torch=0.9, numpy=4.0),
            _row("resnet.3x3.14", "fwd", torch=2.0, numpy=4.0),
            _row("seed.conv1", "bwd", torch=2.5, numpy=3.5), _row("resnet.3x3.14", "bwd", torch=1.1, numpy=2.0),
            _row("seed.conv1", "dx", torch=0.1),   # single-gradient passes do not count for the targets
            _row("maxpool.3x3.s2", "fwd", op="max_pool", fast=1.0, torch=12.0, work=10e6),
            _row("maxpool.3x3.s2", "fwd", "NHWC", op="max_pool", fast=1.0, torch=1.2, work=10e6)]
    t = {x.text.split(":")[0]: x for x in report.evaluate_targets(rows, limits)}
    assert not t["forward >= 1.0x torch on every case"].met
    assert t["forward >= 1.0x torch on every case"].value == pytest.approx(0.9)
    # 1e9 FLOP in 1 ms = 1000 GFLOP/s = 500 % of the 2-thread peak; 1.0x would need 500 / 0.9 = 556 %
    assert "seed.conv1 0.90x (fwd NHWC 2t, needs 556% of peak)" in t["forward >= 1.0x torch on every case"].detail
    assert "needs" not in t["backward (dx+dw+db) >= 1.0x torch on every case"].detail   # met: nothing needed
    g = (1.5 * 0.9 * 2.0) ** (1 / 3)
    assert t["forward geomean >= 1.3x torch"].value == pytest.approx(g) and t["forward geomean >= 1.3x torch"].met
    assert t["backward (dx+dw+db) >= 1.0x torch on every case"].met
    bwd2 = next(x for x in t.values() if x.text.startswith("backward >= 2x"))
    assert bwd2.met and bwd2.value == pytest.approx(2.5)
    assert t["pooling NCHW >= 10x torch"].met and t["pooling NHWC >= 1.0x torch"].met
    copy = t["pooling >= 70% of copy bandwidth"]
    assert not copy.met and copy.value == pytest.approx(10 / 25.0)  # 10 GB/s of 25
    assert not t[">= 3x the NumPy im2col baseline on every case"].met  # resnet.3x3.14 bwd 2.0x
    assert "resnet.3x3.14 2.00x (bwd NCHW 2t, needs 750% of peak)" in t[">= 3x the NumPy im2col baseline on every case"].detail
    assert "depthwise forward and backward >= 3x torch" not in t  # not measured: not listed
    lines = report.format_targets(list(t.values()))
    assert any(line.lstrip().startswith("MISSED  forward >= 1.0x") for line in lines)
    assert lines[-1] == f"targets met: {sum(x.met for x in t.values())}/{len(t)}"
    assert report.percent(rows[0], limits) == pytest.approx(100 * 1000 / 200)   # 1000 GFLOP/s of 2 x 100
    assert report.percent(rows[6], limits) == pytest.approx(100 * 10 / 25)
    summary = report.format_summary(rows)
    assert any(line.split()[:2] == ["fwd", f"{g:.2f}x"] for line in summary)


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from fastconv.cli import peak, report
    limits = peak.MachineLimits(fma_1t=100.0, copy={1: 20.0, 2: 25.0})
    rows = [_row(c, p, lay, t, torch=1.3) for c in ("a", "b") for p in ("fwd", "bwd") for lay in ("NCHW", "NHWC")
            for t in (1, 2)]
    out = tmp_path / "bench.png"
    report.plot(rows, limits, str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in rows:
        r.ms["torch"] = None   # without torch: % of peak
    report.plot(rows, limits, str(out))
    assert out.stat().st_size > 1000


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib raises ImportError
    assert main(["bench", "--case", "seed.conv3", "--plot", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "pip install matplotlib" in err


# --------------------------------------------------------------------------- the machine's limits


def test_fma_peak_binding():
    from fastconv import _C
    saved = fastconv.get_num_threads()
    try:
        one = _C.fma_peak_gflops(0.01, 1)
        assert 0 < one < 1e5
        fastconv.set_num_threads(2)
        assert _C.fma_peak_gflops(0.01, 2) > 0
        assert _C.fma_peak_gflops(0.005, 0) > 0          # 0: the pool's thread count
    finally:
        fastconv.set_num_threads(saved)
    with pytest.raises(ValueError):
        _C.fma_peak_gflops(0.0, 1)


ISA_PROBE = ("import fastconv, fastconv._C as C; "
             "print(fastconv.build_info()['cpu_isa_selected'], C.fma_peak_gflops(0.01, 1))")


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_fma_peak_on_each_isa_path(isa):
    info = fastconv.build_info()
    if isa not in info["cpu_isa_compiled"]:
        pytest.skip(f"{isa} not compiled in")
    if isa != "scalar" and not set({"avx2": ["avx2", "fma"], "avx512": ["avx512f", "avx512bw", "avx512vl"]}[isa]) \
            <= set(info["cpu_features"]):
        pytest.skip(f"this CPU has no {isa}")
    env = dict(os.environ, FASTCONV_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    res = subprocess.run([sys.executable, "-c", ISA_PROBE], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    selected, gflops = res.stdout.split()
    assert selected == isa and float(gflops) > 0


def test_copy_bandwidth_and_other_load():
    from fastconv.cli import peak
    assert peak.copy_bandwidth(1, mib=8, tries=1) > 0
    assert peak.copy_bandwidth(2, mib=8, tries=1) > 0
    meter = peak.OtherLoad().start()
    sum(range(10000))
    cores = meter.cores()
    assert cores is None or cores >= 0
    limits = peak.measure([1, 2], quick=True)
    assert limits.fma_1t > 0 and set(limits.copy) == {1, 2} and limits.peak(2) == 2 * limits.fma_1t
    assert json.loads(json.dumps(limits.to_json()))["fma_gflops_1thread"] == limits.fma_1t


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
    assert header[:6] == ["case", "pass", "layout", "thr", "check", "GFLOP"]
    for col in ("fastconv", "torch", "numpy", "ratio", "%peak"):
        assert col in header
    assert any(line.startswith("case") and "GB/s" in line and "%copy" in line for line in lines)
    for case in ("seed.conv3", "seed.maxpool.2x2"):
        for pass_ in ("fwd", "bwd"):
            for layout in ("NCHW", "NHWC"):
                assert any(line.split()[:5] == [case, pass_, layout, "1", "ok"] for line in lines), \
                    (case, pass_, layout, res.stdout)
    assert "validation: 8/8 ok" in res.stdout
    assert "threads 1 " in res.stdout and "FMA peak [" in res.stdout and "copy bandwidth" in res.stdout
    assert "geomean ratio" in res.stdout or "unavailable" in res.stdout
    assert "targets met:" in res.stdout
    assert re.search(r"^\[1/8\] seed\.conv3 fwd NCHW 1t", res.stderr, re.M), res.stderr  # progress
    assert "[8/8] seed.maxpool.2x2 bwd NHWC 1t" in res.stderr
    data = json.loads(out.read_text())
    assert data["meta"]["threads"] == [1] and data["meta"]["quick"] is True
    assert data["meta"]["layouts"] == ["NCHW", "NHWC"] and data["meta"]["passes"] == ["fwd", "bwd"]
    assert data["machine"]["fma_gflops_1thread"] > 0 and data["machine"]["copy_gbps"]["1"] > 0
    assert [(r["case"], r["pass"], r["layout"], r["check"]) for r in data["results"]] == [
        (c, p, lay, "ok") for c in ("seed.conv3", "seed.maxpool.2x2") for p in ("fwd", "bwd")
        for lay in ("NCHW", "NHWC")]
    for r in data["results"]:
        assert r["ms"]["fastconv"] > 0 and r["runs"]["fastconv"] >= 1 and r["err_over_tol"] <= 1
        assert r["threads"] == 1
        pct = r.get("pct_of_peak") or r.get("pct_of_copy")
        assert pct["fastconv"] > 0
    assert all({"target", "met", "value", "detail"} <= set(t) for t in data["targets"])


def test_bench_quick_single_gradients_two_threads():
    res = run_cli("bench", "--quick", "--case", "seed.conv3", "--layout", "NHWC", "--pass", "dx,dw,db",
                  "--threads", "1,2", "--repeat", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "layouts NHWC" in res.stdout and "threads 1, 2" in res.stdout
    rows = [line.split()[:5] for line in res.stdout.splitlines() if line.startswith("seed.conv3")]
    assert rows == [["seed.conv3", p, "NHWC", t, "ok"] for p in ("dx", "dw", "db") for t in ("1", "2")]
    assert "validation: 6/6 ok" in res.stdout
