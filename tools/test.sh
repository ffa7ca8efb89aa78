#!/usr/bin/env bash
# Builds Tern and runs every test: the README's test command and what CI runs (.ci/run).
# Usage: tools/test.sh        (set TERN_PRESET=host-asan for a sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${TERN_PRESET:-host-release}
tools/setup/install_deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset"
