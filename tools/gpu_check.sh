#!/usr/bin/env bash
# The check to spend a lent GPU on (tools/README.md): builds, runs every cuda test against the
# real driver (QJIT_TEST_REQUIRE_CUDA=1: a cuda test that would skip fails) and
# bench/qgemm_cuda_bench against cuBLASLt, and writes everything to one directory — the
# device, the test log and JUnit XML, the benchmark JSON and a SUMMARY.md — in under 10
# minutes on an H100. Without a GPU it says why and exits 0 having run nothing.
#
#   bash tools/gpu_check.sh [OUT_DIR]     (default bench/results/gpu-<UTC time>)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/bench/results/gpu-$(date -u +%Y%m%d-%H%M%S)}"

why=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
  why="nvidia-smi is not installed"
elif ! nvidia-smi -L >/dev/null 2>&1; then
  why="nvidia-smi lists no GPU ($(nvidia-smi -L 2>&1 | head -n 1))"
fi
if [ -n "$why" ]; then
  echo "gpu_check: skipped: no GPU answers here: $why"
  exit 0
fi

mkdir -p "$out"
start=$(date +%s)
stamp() { echo "gpu_check: $1 ($(( $(date +%s) - start )) s)"; }
nvidia-smi -q > "$out/nvidia-smi.txt" 2>&1 || true
nvidia-smi -L | tee "$out/device.txt"

stamp "building"
export QJIT_BUILD_DIR="${QJIT_BUILD_DIR:-$root/build}"
export QJIT_CMAKE_ARGS="${QJIT_CMAKE_ARGS:-}"
# shellcheck source=tools/setup.sh
source "$root/tools/setup.sh" > "$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; exit 1; }

stamp "cuda tests"
export QJIT_CACHE_DIR="$QJIT_BUILD_DIR/gpu-check-cache"
export QJIT_TEST_REQUIRE_CUDA=1
tests_rc=0
(cd "$QJIT_BUILD_DIR" && ctest -j "$(nproc)" --timeout 300 -R 'Cuda|cuda' -E 'CudaStandin' \
  --output-on-failure --output-junit "$out/cuda-tests.xml") > "$out/cuda-tests.log" 2>&1 || tests_rc=$?
tail -n 5 "$out/cuda-tests.log"

stamp "qgemm_cuda_bench against cuBLASLt"
bench_rc=0
if [ -x "$QJIT_BUILD_DIR/bench/qgemm_cuda_bench" ]; then
  "$QJIT_BUILD_DIR/bench/qgemm_cuda_bench" --benchmark_format=json --benchmark_out="$out/qgemm_cuda_bench.json" \
    --benchmark_out_format=json > "$out/qgemm_cuda_bench.txt" 2>&1 || bench_rc=$?
else
  echo "qgemm_cuda_bench was not built (no cuBLASLt in the toolkit)" > "$out/qgemm_cuda_bench.txt"
  bench_rc=1
fi

stamp "summary"
python3 - "$out" "$tests_rc" "$bench_rc" <<'PY'
import json, os, re, sys
out, tests_rc, bench_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ["# GPU check", ""]
dev = open(os.path.join(out, "device.txt")).read().strip()
lines += [f"Device: {dev}", ""]
log = open(os.path.join(out, "cuda-tests.log")).read()
m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", log)
lines += ["## cuda tests", "", m.group(0) if m else f"no ctest summary (exit {tests_rc})", ""]
path = os.path.join(out, "qgemm_cuda_bench.json")
if os.path.exists(path):
    rows = json.load(open(path)).get("benchmarks", [])
    lines += ["## qgemm_cuda_bench (ratios: cuBLASLt time / ours; above 1 is faster)", "",
              "| row | us | x_vs_bf16 | x_vs_int8 | TOPS |", "|---|---|---|---|---|"]
    for r in rows:
        if r.get("error_occurred"):
            lines.append(f"| {r['name']} | skipped: {r.get('error_message', '')} | | | |")
            continue
        us = r.get("real_time", 0)
        lines.append(f"| {r['name']} | {us:.1f} | {r.get('x_vs_bf16', float('nan')):.2f} | "
                     f"{r.get('x_vs_int8', float('nan')):.2f} | {r.get('TOPS', float('nan')):.1f} |")
else:
    lines += ["## qgemm_cuda_bench", "", f"not run (exit {bench_rc})"]
open(os.path.join(out, "SUMMARY.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines[:12]))
PY
stamp "done: $out"
exit $(( tests_rc != 0 || bench_rc != 0 ))
