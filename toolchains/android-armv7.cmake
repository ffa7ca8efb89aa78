# Android, 32-bit Arm (armeabi-v7a with NEON): older and low-end phones. Wraps the NDK's toolchain
# file.
#   cmake --preset android-armv7 -DANDROID_NDK=/path/to/ndk [-DTERN_ANDROID_API=26]
# See android-common.cmake for the settings.
set(ANDROID_ABI armeabi-v7a)
set(ANDROID_ARM_NEON ON)
set(TERN_DEBIAN_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/android-common.cmake)
