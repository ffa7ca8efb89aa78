#!/usr/bin/env bash
# Cross check on Arm without a board (called by tools/test.sh after the host build and tests):
#   aarch64: sysroot, build (runtime + backends + tests, no compiler), EVERY test under qemu-aarch64,
#            including the example app on a plan compiled by the host `tern` and the model zoo's
#            plans (compiled on the host) against PyTorch's goldens when the host zoo exists;
#   armhf:   sysroot, build, every test but the model zoo (op tests on the reference and CPU
#            backends, the example app) under qemu-arm;
#   the size report of the aarch64 runtime (tools/size_report.sh).
# Each step is timed; the summary is printed at the end.
#
# Usage: tools/test_cross.sh                  (TERN_SKIP_CROSS=1 makes tools/test.sh skip it)
#   TERN_HOST_BUILD  host build whose `tern` compiles the test plans and whose zoo/ holds the
#                    exported models (default build/host-release)
#   TERN_CROSS_ARCHES  default "aarch64 armhf"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

host_build=${TERN_HOST_BUILD:-build/host-release}
host_args=()
if [ -x "$host_build/tools/tern" ]; then host_args+=("-DTERN_HOST_TERN=$root/$host_build/tools/tern"); fi
if [ -d "$host_build/zoo" ]; then host_args+=("-DTERN_HOST_ZOO=$root/$host_build/zoo"); fi
# ccache, when installed, makes the rebuilds of an unchanged tree nearly free. (No CCACHE_BASEDIR:
# it makes __FILE__ relative, and some tests find their data next to their source through it.)
if command -v ccache >/dev/null; then
  host_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

times=()
report() { echo "==== test_cross: step times"; printf '%s\n' "${times[@]}"; }
trap report EXIT  # also after a failing step
step() {  # step NAME COMMAND...: runs and times one step
  local name=$1; shift
  echo "==== test_cross: $name"
  local t0=$SECONDS
  "$@"
  times+=("$(printf '%5ds  %s' $((SECONDS - t0)) "$name")")
}

for arch in ${TERN_CROSS_ARCHES:-aarch64 armhf}; do
  case "$arch" in
    aarch64) deb=arm64; preset=linux-aarch64; tests=() ;;
    armhf) deb=armhf; preset=linux-armhf; tests=(-E '^target-models/') ;;  # all but the model zoo
    *) echo "test_cross: unknown arch $arch" >&2; exit 2 ;;
  esac
  step "$arch: sysroot" tools/setup/make_sysroot.sh "$deb"
  step "$arch: configure" cmake --preset "$preset" "${host_args[@]}"
  step "$arch: build" cmake --build --preset "$preset" -j "$jobs"
  step "$arch: tests under qemu" ctest --preset "$preset" "${tests[@]}"
done
if [[ " ${TERN_CROSS_ARCHES:-aarch64} " == *" aarch64 "* ]]; then
  step "aarch64: size report" tools/size_report.sh build/linux-aarch64
fi

