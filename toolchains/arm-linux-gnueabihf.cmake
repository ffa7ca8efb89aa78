# Cross toolchain for 32-bit Arm Linux with NEON: Raspberry Pi 2/3/4/5 running a 32-bit (armhf) OS.
# Debian's g++-arm-linux-gnueabihf + tools/setup/make_sysroot.sh armhf.
#   tools/setup/make_sysroot.sh armhf
#   cmake --preset linux-armhf && cmake --build --preset linux-armhf && ctest --preset linux-armhf
# Debian's armhf baseline is armv7-a + VFPv3-D16 without NEON; Tern's code is built for
# armv7-a + NEON-VFPv4 (Cortex-A7 and later, i.e. every Pi since the Pi 2), hard-float ABI
# (link-compatible with Debian's armhf libraries).
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(TERN_TARGET_TRIPLE arm-linux-gnueabihf)
set(TERN_DEBIAN_ARCH armhf)
set(TERN_QEMU qemu-arm)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
