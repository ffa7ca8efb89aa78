# Cross toolchain for 64-bit Arm Linux: NVIDIA Jetson Orin/Xavier, Raspberry Pi 4/5 (64-bit OS),
# Arm servers. Debian's g++-aarch64-linux-gnu + tools/setup/make_sysroot.sh arm64.
#   tools/setup/make_sysroot.sh arm64
#   cmake --preset linux-aarch64 && cmake --build --preset linux-aarch64 && ctest --preset linux-aarch64
# Baseline ISA is armv8-a (NEON is always there); dotprod/fp16 kernels are selected at run time.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(TERN_TARGET_TRIPLE aarch64-linux-gnu)
set(TERN_DEBIAN_ARCH arm64)
set(TERN_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
