# Shared part of android-arm64.cmake / android-armv7.cmake: wraps the Android NDK's own toolchain
# file. Documented, not testable here (no NDK in Debian 12). Settings:
#   ANDROID_NDK          NDK root (or the ANDROID_NDK / ANDROID_NDK_HOME / ANDROID_NDK_ROOT env var)
#   TERN_ANDROID_API     minimum API level (default 26, Android 8.0: AHardwareBuffer, Vulkan 1.0)
#   ANDROID_STL          default c++_static (one self-contained libtern.so)
# FlatBuffers and xxHash are header-only for the runtime: their headers come from the Debian
# sysroot of the matching Arm architecture (tools/setup/make_sysroot.sh arm64|armhf), which is put
# on the find path for headers only. The Debian libraries there are glibc builds and unusable on
# Android: build with -DTERN_WITH_XNNPACK=OFF -DTERN_WITH_TBB=OFF -DTERN_BUILD_COMPILER=OFF
# -DTERN_BUILD_TESTS=OFF (what the android-* presets set), or point CMAKE_FIND_ROOT_PATH at
# Android builds of XNNPACK/pthreadpool/cpuinfo.
if(NOT ANDROID_NDK)
  foreach(var ANDROID_NDK ANDROID_NDK_HOME ANDROID_NDK_ROOT)
    if(DEFINED ENV{${var}})
      set(ANDROID_NDK "$ENV{${var}}")
      break()
    endif()
  endforeach()
endif()
if(NOT ANDROID_NDK OR NOT EXISTS "${ANDROID_NDK}/build/cmake/android.toolchain.cmake")
  message(FATAL_ERROR "Android NDK not found: set ANDROID_NDK (cmake -DANDROID_NDK=... or the environment)")
endif()
set(ANDROID_NDK "${ANDROID_NDK}" CACHE PATH "Android NDK root")

if(NOT TERN_ANDROID_API)
  set(TERN_ANDROID_API 26)
endif()
set(TERN_ANDROID_API "${TERN_ANDROID_API}" CACHE STRING "Minimum Android API level")
set(ANDROID_PLATFORM "android-${TERN_ANDROID_API}")
if(NOT ANDROID_STL)
  set(ANDROID_STL c++_static)
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ANDROID_NDK TERN_ANDROID_API TERN_SYSROOT)

include("${ANDROID_NDK}/build/cmake/android.toolchain.cmake")

if(NOT TERN_SYSROOT)
  get_filename_component(TERN_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build/sysroot-${TERN_DEBIAN_ARCH}" ABSOLUTE)
endif()
set(TERN_SYSROOT "${TERN_SYSROOT}" CACHE PATH "Debian sysroot providing the header-only dependencies")
list(APPEND CMAKE_FIND_ROOT_PATH "${TERN_SYSROOT}")
