# Shared part of the Linux cross toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake).
# The including file sets TERN_TARGET_TRIPLE, TERN_DEBIAN_ARCH, TERN_QEMU and CMAKE_SYSTEM_PROCESSOR.
#
# Where things come from:
# - compilers, libc, libstdc++: Debian's cross toolchain (g++-<triple>), rooted at /usr/<triple>;
# - XNNPACK, pthreadpool, cpuinfo, oneTBB, the Vulkan loader, FlatBuffers/xxHash headers, doctest:
#   the sysroot built by tools/setup/make_sysroot.sh <arch> from Debian's own target packages
#   (default build/sysroot-<arch>; override with -DTERN_SYSROOT=... or the TERN_SYSROOT env var);
# - host programs (flatc, glslangValidator, python3): the host, since their output is
#   architecture-independent.
# Tests run under qemu-user through CMAKE_CROSSCOMPILING_EMULATOR (ctest, and doctest's test
# discovery at build time).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${TERN_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${TERN_TARGET_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${TERN_TARGET_TRIPLE})

if(NOT TERN_SYSROOT)
  if(DEFINED ENV{TERN_SYSROOT})
    set(TERN_SYSROOT "$ENV{TERN_SYSROOT}")
  else()
    get_filename_component(TERN_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build/sysroot-${TERN_DEBIAN_ARCH}" ABSOLUTE)
  endif()
endif()
set(TERN_SYSROOT "${TERN_SYSROOT}" CACHE PATH "Target sysroot from tools/setup/make_sysroot.sh")
# try_compile projects re-read this file: hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TERN_SYSROOT)
if(NOT EXISTS "${TERN_SYSROOT}/usr/include")
  message(WARNING "No target sysroot at ${TERN_SYSROOT}: run tools/setup/make_sysroot.sh ${TERN_DEBIAN_ARCH}")
endif()

set(CMAKE_FIND_ROOT_PATH "${TERN_SYSROOT}" /usr/${TERN_TARGET_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The sysroot's shared libraries need each other at link time (libXNNPACK -> libcpuinfo, ...).
set(_tern_libdir "${TERN_SYSROOT}/usr/lib/${TERN_TARGET_TRIPLE}")
foreach(kind EXE SHARED MODULE)
  set(CMAKE_${kind}_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_tern_libdir}")
endforeach()

# qemu-user: -L roots the target's dynamic loader and libc in the cross toolchain's tree; the
# sysroot's libraries come through LD_LIBRARY_PATH (set for the guest with -E).
find_program(TERN_QEMU_PROGRAM ${TERN_QEMU})
if(TERN_QEMU_PROGRAM)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      "${TERN_QEMU_PROGRAM};-L;/usr/${TERN_TARGET_TRIPLE};-E;LD_LIBRARY_PATH=${_tern_libdir}")
endif()
