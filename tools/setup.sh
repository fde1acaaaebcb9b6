#!/usr/bin/env bash
# Installs what qjit needs to build (idempotent, non-interactive), then configures and
# builds into ${QJIT_BUILD_DIR:-build}. Sourced by tools/run.sh and tools/test.sh.
set -euo pipefail

QJIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QJIT_BUILD_DIR="${QJIT_BUILD_DIR:-$QJIT_ROOT/build}"

packages=(cmake ninja-build g++ pkg-config python3-matplotlib libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
          libcli11-dev libfmt-dev libssl-dev libre2-dev
          llvm-14-dev libclang-cpp14-dev libclang-14-dev clang-14  # the cpu device's in-process compiler (hostcc/)
          libdnnl-dev libopenblas-dev                   # the cpu baselines of bench/ (never linked by qjit)
          ${QJIT_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "qjit setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CUDA toolkit (NVRTC, headers) comes with the machine image, not from Debian.
if ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
    [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break
  done
fi
if ! command -v nvcc >/dev/null 2>&1; then
  echo "qjit setup: the CUDA toolkit (nvcc, NVRTC) was not found under /usr/local/cuda; install it first" >&2
  exit 1
fi

generator=()
[ -f "$QJIT_BUILD_DIR/CMakeCache.txt" ] || generator=(-G Ninja)
cmake -S "$QJIT_ROOT" -B "$QJIT_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="${QJIT_BUILD_TYPE:-RelWithDebInfo}" \
  ${QJIT_CMAKE_ARGS:-} >/dev/null
cmake --build "$QJIT_BUILD_DIR" -j "$(nproc)" ${QJIT_BUILD_TARGETS:+--target $QJIT_BUILD_TARGETS}
