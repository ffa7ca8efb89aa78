#!/usr/bin/env bash
# Installs the Debian 12 packages Tern builds, tests and demos with. Idempotent: installs only
# what is missing. Usage: tools/setup/install_deps.sh
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config
  # runtime dependencies
  libflatbuffers-dev flatbuffers-compiler libxxhash-dev
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev libtbb-dev
  # Vulkan backend (lavapipe is a CPU Vulkan device for tests)
  libvulkan-dev mesa-vulkan-drivers glslang-tools spirv-tools vulkan-validationlayers
  # compiler (host only)
  libprotobuf-dev protobuf-compiler libonnx-dev libssl-dev
  # CLI and tests
  libcli11-dev nlohmann-json3-dev doctest-dev
  # models, goldens and conformance cases (Debian's PyTorch and ONNX)
  python3-torch python3-onnx python3-numpy
  # data set for the quantization accuracy measurements
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
