#!/usr/bin/env bash
# The test suite: set up, build, then every test through CTest (GPU tests skip, saying why,
# when no GPU answers). Extra arguments go to ctest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$QJIT_BUILD_DIR"
# A private kernel cache, so the suite neither reads nor fills the user's.
export QJIT_CACHE_DIR="${QJIT_TEST_CACHE_DIR:-$QJIT_BUILD_DIR/test-cache}"
exec ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@"
