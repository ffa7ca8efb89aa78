#!/usr/bin/env bash
# Builds Tern and runs every test: the README's test command and what CI runs (.ci/run).
# Usage: tools/test.sh        (set TERN_PRESET=host-asan for a sanitizer build)
# Then the Arm cross check (tools/test_cross.sh: aarch64 + armhf under qemu); TERN_SKIP_CROSS=1
# skips it for quick local runs.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${TERN_PRESET:-host-release}
tools/setup/install_deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset"
if [ "${TERN_SKIP_CROSS:-0}" != 1 ]; then
  TERN_HOST_BUILD=build/$preset tools/test_cross.sh
fi
