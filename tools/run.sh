#!/usr/bin/env bash
# The main job: set up, build, then `qjit run` with any arguments given here.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$QJIT_BUILD_DIR/tools/qjit" run "$@"
