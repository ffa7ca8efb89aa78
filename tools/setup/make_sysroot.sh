#!/usr/bin/env bash
# Builds the target sysroot of a cross build from Debian 12's own arm64/armhf packages: no board,
# no downloads other than Debian packages. Installs the host tools for that target when missing
# (cross g++, qemu-user), adds the foreign dpkg architecture, `apt-get download`s the -dev packages
# the device build links (XNNPACK, pthreadpool, cpuinfo, FlatBuffers, oneTBB, xxHash, the Vulkan
# loader, doctest) with their runtime libraries, and `dpkg -x`es them into build/sysroot-ARCH.
# libc and libstdc++ come from the cross toolchain (/usr/<triple>), not from this sysroot.
# Idempotent: a second run with the same package list does nothing.
#
# Usage: tools/setup/make_sysroot.sh arm64|armhf [OUTDIR]
# The toolchain files (toolchains/aarch64-linux-gnu.cmake, toolchains/arm-linux-gnueabihf.cmake)
# look for the sysroot at build/sysroot-ARCH unless TERN_SYSROOT says otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

arch=${1:-}
case "$arch" in
  arm64) triple=aarch64-linux-gnu; qemu=qemu-aarch64 ;;
  armhf) triple=arm-linux-gnueabihf; qemu=qemu-arm ;;
  *) echo "usage: $0 arm64|armhf [OUTDIR]" >&2; exit 2 ;;
esac
out=${2:-build/sysroot-$arch}

# Headers + link-time libraries, and the shared libraries they need at run time (DT_NEEDED chain).
# libc6 / libstdc++6 / libgcc-s1 are deliberately absent: the cross toolchain provides them.
PACKAGES=(
  libxnnpack-dev libxnnpack0
  libpthreadpool-dev libpthreadpool0
  libcpuinfo-dev libcpuinfo0
  libflatbuffers-dev libflatbuffers2
  libxxhash-dev libxxhash0
  libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5
  libvulkan-dev libvulkan1
)
# Architecture: all (no :arch qualifier).
PACKAGES_ALL=(doctest-dev)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# ---- host tools for this target ---------------------------------------------------------------
host_pkgs=(g++-$triple qemu-user)
missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make_sysroot: installing host tools ${missing[*]}"
  $SUDO apt-get update -q || echo "make_sysroot: warning: apt-get update reported errors (continuing)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v "$triple-g++" >/dev/null && command -v "$qemu" >/dev/null

# ---- idempotence: the stamp records the package list and versions ------------------------------
stamp="$out/.tern-sysroot"
want="$arch ${PACKAGES[*]} ${PACKAGES_ALL[*]}"
if [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$want" ]; then
  echo "make_sysroot: $out is up to date"
  exit 0
fi

# ---- foreign architecture + package index ------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  echo "make_sysroot: dpkg --add-architecture $arch"
  $SUDO dpkg --add-architecture "$arch"
fi
if ! apt-cache show "libxnnpack-dev:$arch" >/dev/null 2>&1; then
  # A failing mirror for one index (e.g. security) must not stop us: main has everything needed.
  $SUDO apt-get update -q || echo "make_sysroot: warning: apt-get update reported errors (continuing)"
fi

# ---- download + extract ------------------------------------------------------------------------
debs="$out.debs"
mkdir -p "$debs"
specs=("${PACKAGES[@]/%/:$arch}" "${PACKAGES_ALL[@]}")
echo "make_sysroot: downloading ${#specs[@]} packages for $arch"
(cd "$debs" && rm -f ./*.deb && apt-get download -q "${specs[@]}")

rm -rf "$out"
mkdir -p "$out"
for deb in "$debs"/*.deb; do
  dpkg -x "$deb" "$out"
done

# Absolute symlinks (e.g. libfoo.so -> /usr/lib/<triple>/libfoo.so.1) would point at the host:
# make them relative to the sysroot.
find "$out" -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$out$target")" "$link"
done

{
  echo "$want"
  for deb in "$debs"/*.deb; do basename "$deb"; done
} > "$stamp"
echo "make_sysroot: $out ready ($(find "$out" -type f | wc -l) files)"
