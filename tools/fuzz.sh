#!/usr/bin/env bash
# Fuzzing (tests/fuzz/README.md): builds the libFuzzer targets with clang 14 (ASan + UBSan)
# into ${QJIT_FUZZ_BUILD_DIR:-build-fuzz} and runs each for ${1:-60} seconds from a working
# copy of its seed corpus and regressions. Prints each target's executions; exits non-zero
# on a crash, leaving the input in build-fuzz/artifacts/. QJIT_FUZZ_SEED fixes libFuzzer's
# seed: CI sets it, so that a run from a clean clone replays the same inputs (a slower
# machine runs a prefix of them) and a result is reproducible; unset, each run explores anew.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export QJIT_BUILD_DIR="${QJIT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
export QJIT_EXTRA_PACKAGES="clang-14 libclang-rt-14-dev"
export QJIT_CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++-14 -DQJIT_FUZZ=ON -DQJIT_BUILD_TESTS=OFF -DQJIT_BUILD_BENCH=OFF"
export QJIT_BUILD_TYPE=RelWithDebInfo
targets=(safetensors rules cache_entry ptx bundle)
QJIT_BUILD_TARGETS="$(printf 'qjit_fuzz_%s ' "${targets[@]}")"
export QJIT_BUILD_TARGETS
source "$root/tools/setup.sh"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/.ci/lsan.supp:print_suppressions=0"
mkdir -p "$QJIT_BUILD_DIR/artifacts"
status=0
for t in "${targets[@]}"; do
  work="$QJIT_BUILD_DIR/corpus/$t"
  mkdir -p "$work"
  for d in "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && cp -n "$d"/* "$work"/ 2>/dev/null || true
  done
  log="$QJIT_BUILD_DIR/fuzz-$t.log"
  # -timeout: an input running over 10 s is a hang; -rss_limit_mb: over 2 GiB is a leak or
  # an unbounded allocation. Both count as crashes.
  if "$QJIT_BUILD_DIR/tests/fuzz/qjit_fuzz_$t" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      ${QJIT_FUZZ_SEED:+-seed="$QJIT_FUZZ_SEED"} -print_final_stats=1 -artifact_prefix="$QJIT_BUILD_DIR/artifacts/$t-" >"$log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2; exit}' "$log")
    corpus=$(find "$work" -type f | wc -l)
    echo "fuzz $t: ${runs:-?} executions in ${seconds} s, corpus $corpus inputs, no crash"
  else
    echo "fuzz $t: CRASH (log $log; input in $QJIT_BUILD_DIR/artifacts/):"
    if grep -qE 'ERROR|SUMMARY' "$log"; then
      awk '/ERROR|SUMMARY|==[0-9]+==/' "$log" | sed -n 1,20p
    else
      tail -n 30 "$log"
    fi
    status=1
  fi
done
exit $status
