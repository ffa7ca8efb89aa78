# Android, 64-bit Arm (arm64-v8a): phones and tablets. Wraps the NDK's toolchain file.
#   cmake --preset android-arm64 -DANDROID_NDK=/path/to/ndk [-DTERN_ANDROID_API=26]
# See android-common.cmake for the settings.
set(ANDROID_ABI arm64-v8a)
set(TERN_DEBIAN_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/android-common.cmake)
