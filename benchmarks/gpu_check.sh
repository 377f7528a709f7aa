#!/usr/bin/env bash
# The GPU check (DESIGN.md section 6), one call on a fresh GPU machine: build, GPU tests,
# compute-sanitizer, benchmarks against PyTorch/cuDNN, and a short table printed last.
#
#   bash benchmarks/gpu_check.sh            # logs under $OUT, or ./gpu_check_out when OUT is unset
#
# Expects: Python 3 with pip, nvcc, CMake, ninja, pybind11, scikit-build-core, numpy, CuPy and/or
# PyTorch, pytest; no network. Every step has its own time limit (seconds, below) so that one hang
# cannot eat the budget; the whole script stays under about 8 minutes.
# Without a GPU it still builds (FASTCONV_CUDA=ON) and runs the host-side tests, then says so and
# exits 3. Exit status: 0 all green, 1 a step failed, 3 no GPU.
#
# Variables: PYTHON (default python3), GPU_CHECK_TARGET (install with pip --target into this folder
# instead of the environment, e.g. to try the script on a shared machine), GPU_CHECK_JOBS (build
# parallelism, default all cores), T_BUILD, T_INFO, T_HOST_TESTS, T_GPU_TESTS, T_SANITIZER, T_BENCH,
# T_CONV_BENCH (each step's limit in seconds).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
start=$(date +%s)
summary=()
failed=0

T_BUILD=${T_BUILD:-330}; T_INFO=${T_INFO:-60}; T_HOST_TESTS=${T_HOST_TESTS:-120}; T_GPU_TESTS=${T_GPU_TESTS:-180}
T_SANITIZER=${T_SANITIZER:-90}; T_BENCH=${T_BENCH:-150}; T_CONV_BENCH=${T_CONV_BENCH:-180}

elapsed() { echo $(( $(date +%s) - start )); }
note() { echo "[gpu_check $(elapsed)s] $*"; }

# run NAME LIMIT CMD...: runs CMD under `timeout`, output appended to $OUT/${LOG:-NAME}.log (and the
# terminal). At most 8 files come back from a lent GPU machine's $OUT, so some steps share a log.
run() {
  local name=$1 limit=$2; shift 2
  note "== $name (limit ${limit}s): $*"
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$OUT/${LOG:-$name}.log"
  local rc=${PIPESTATUS[0]}
  local took=$(( $(date +%s) - t0 ))
  local status=ok
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="TIMEOUT"; elif [ "$rc" -ne 0 ]; then status="FAIL(rc=$rc)"; fi
  summary+=("$(printf '%-22s %-12s %4ss' "$name" "$status" "$took")")
  [ "$status" = ok ]
}

finish() {
  local code=$1 why=$2
  {
    echo
    echo "==================== gpu_check summary ($(elapsed)s, logs in $OUT) ===================="
    echo "device: ${GPU_NAME:-none}"
    printf '%s\n' "${summary[@]}"
    if [ -f "$OUT/gpu_conv_bench.md" ]; then
      echo "-- conv2d: fastconv implicit GEMM vs cuDNN (fp32; TF32 labelled) --"
      cat "$OUT/gpu_conv_bench.md"
    fi
    if [ -f "$OUT/gpu_bench.log" ]; then
      echo "-- benchmark (fastconv vs PyTorch, fp32; torch/fc > 1: fastconv faster) --"
      grep -E "^(device|copy bandwidth)|^[a-z].*(NCHW|NHWC)|^case" "$OUT/gpu_bench.log" || true
    fi
    echo "result: $why"
  } | tee "$OUT/summary.txt"
  exit "$code"
}

# -- 0. the machine
if ! command -v nvcc >/dev/null; then
  for d in /usr/local/cuda/bin /usr/local/bin; do [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break; done
fi
note "OUT=$OUT"
rm -f "$OUT"/*.log "$OUT/summary.txt" "$OUT/gpu_bench.json"
{ uname -a; "$PYTHON" --version; command -v nvcc && nvcc --version | tail -2; cmake --version | head -1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1; } > "$OUT/build_info.log" 2>&1
cat "$OUT/build_info.log"
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
if [ -z "$GPU_NAME" ]; then
  note "NO GPU: nvidia-smi finds no device; running the CPU-possible steps only, then exiting 3"
fi

# -- 1. build and install (every .cu must compile)
pip_args=(--no-build-isolation --no-deps)
if [ -n "${GPU_CHECK_TARGET:-}" ]; then
  rm -rf "$GPU_CHECK_TARGET"
  pip_args+=(--target "$GPU_CHECK_TARGET")
  export PYTHONPATH="$GPU_CHECK_TARGET${PYTHONPATH:+:$PYTHONPATH}"
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${GPU_CHECK_JOBS:-$(nproc)}
if ! run build "$T_BUILD" env FASTCONV_CUDA=ON "$PYTHON" -m pip install -v "${pip_args[@]}" .; then
  finish 1 "FAIL: the build failed (see $OUT/build.log)"
fi

# -- 2. what was built; from / so that the installed package, not the source tree, is imported
run build_info "$T_INFO" bash -c "cd / && '$PYTHON' -c 'import fastconv, json; print(json.dumps(fastconv.build_info(), indent=1)); print(\"cuda_available:\", fastconv.cuda_available())'" || failed=1

# -- 3. host-side tests: index arithmetic and the GPU layer on host memory (the latter skip on a GPU)
run host_tests "$T_HOST_TESTS" "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu_index.py tests/test_conv_index.py tests/test_gpu_interop.py \
  || failed=1

if [ -z "$GPU_NAME" ]; then
  finish 3 "NO GPU on this machine: built with FASTCONV_CUDA=ON and ran the host-side tests only; the GPU tests, sanitizer and benchmarks did not run"
fi
if ! "$PYTHON" -c "import fastconv, sys; sys.exit(0 if fastconv.cuda_available() else 1)"; then
  finish 1 "FAIL: nvidia-smi sees '$GPU_NAME' but fastconv.cuda_available() is False (see $OUT/build_info.log)"
fi

# -- 4. GPU tests
run gpu_tests "$T_GPU_TESTS" "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu -rs tests/ || failed=1

# -- 5. compute-sanitizer on a small run of every kernel
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)
if [ -z "$SANITIZER" ]; then
  summary+=("$(printf '%-22s %-12s' sanitizer "MISSING")"); failed=1
else
  for tool in memcheck racecheck; do
    LOG=sanitizer run "sanitizer_$tool" "$T_SANITIZER" "$SANITIZER" --tool "$tool" --error-exitcode 9 \
      "$PYTHON" benchmarks/gpu_sanitize.py || failed=1
    run "sanitizer_conv_$tool" "$T_SANITIZER" "$SANITIZER" --tool "$tool" --error-exitcode 9 \
      "$PYTHON" benchmarks/gpu_conv_sanitize.py $([ "$tool" = racecheck ] && echo --quick) || failed=1
  done
fi

# -- 6. benchmarks against PyTorch/cuDNN, same process, interleaved
run gpu_bench "$T_BENCH" "$PYTHON" benchmarks/gpu_bench.py --json "$OUT/gpu_bench.json" || failed=1
run gpu_conv_bench "$T_CONV_BENCH" "$PYTHON" benchmarks/gpu_conv_bench.py --reps 10 --out "$OUT" || failed=1

if [ "$failed" -ne 0 ]; then
  finish 1 "FAIL: a step failed (see its log in $OUT)"
fi
finish 0 "all steps green on $GPU_NAME"
