// NEON vector of 4 floats for the templated micro-kernels (kernels_impl.h), AArch64 and armv7
// (NEON-VFPv4, the armhf toolchain's baseline). Included only by kernels_neon.cpp. armv7's NEON
// lacks vdivq / vrndmq / vrndnq / vaddvq / vmaxvq: they are emulated below with results identical
// to AArch64's (division per lane in VFP, which is IEEE; rounding by exact integer conversions).
// armv7 NEON arithmetic flushes denormals to zero (AArch64 does not), the one difference left.
#pragma once

#include <arm_neon.h>

#include <cstring>

namespace tern::cpu::simd {

struct VecNeon {
  using T = float32x4_t;
  using M = uint32x4_t;
  static constexpr int W = 4;
  static constexpr const char* kIsa = "neon";
  static T zero() { return vdupq_n_f32(0.0f); }
  static T set1(float v) { return vdupq_n_f32(v); }
  static T load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, T v) { vst1q_f32(p, v); }
  static T load_n(const float* p, int n, float fill) {
    float t[4] = {fill, fill, fill, fill};
    std::memcpy(t, p, static_cast<size_t>(n) * sizeof(float));
    return vld1q_f32(t);
  }
  static void store_n(float* p, T v, int n) {
    float t[4];
    vst1q_f32(t, v);
    std::memcpy(p, t, static_cast<size_t>(n) * sizeof(float));
  }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T mul(T a, T b) { return vmulq_f32(a, b); }
#if defined(__aarch64__)
  static T div(T a, T b) { return vdivq_f32(a, b); }
#else
  static T div(T a, T b) {
    float x[4], y[4];
    vst1q_f32(x, a);
    vst1q_f32(y, b);
    for (int i = 0; i < 4; ++i) x[i] /= y[i];
    return vld1q_f32(x);
  }
#endif
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T max(T a, T b) { return vmaxq_f32(a, b); }  // NaN-propagating, unlike x86 max
  static T min(T a, T b) { return vminq_f32(a, b); }
  static T abs(T a) { return vabsq_f32(a); }
#if defined(__aarch64__)
  static T floor(T a) { return vrndmq_f32(a); }
  static T round(T a) { return vrndnq_f32(a); }
#else
  // |a| >= 2^23 (and NaN / inf) are already integral: returned as they are.
  static M small(T a) { return vcltq_f32(vabsq_f32(a), vdupq_n_f32(8388608.0f)); }
  static T floor(T a) {
    const T t = vcvtq_f32_s32(vcvtq_s32_f32(a));  // truncated toward zero
    const T f = vsubq_f32(t, vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(t, a), vreinterpretq_u32_f32(vdupq_n_f32(1.0f)))));
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u));  // floor(-0) = -0
    return vbslq_f32(small(a), vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(f), sign)), a);
  }
  static T round(T a) {  // to nearest even: adding and removing 2^23 rounds in the FPU's (fixed) mode
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u));
    const T magic = vreinterpretq_f32_u32(vorrq_u32(sign, vreinterpretq_u32_f32(vdupq_n_f32(8388608.0f))));
    const T r = vsubq_f32(vaddq_f32(a, magic), magic);
    return vbslq_f32(small(a), vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(r), sign)), a);
  }
#endif
  static T pow2(T n) {
    int32x4_t i = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(i, 23));
  }
  static M lt(T a, T b) { return vcltq_f32(a, b); }
  static M ge(T a, T b) { return vcgeq_f32(a, b); }
  static M isnan(T a) { return vmvnq_u32(vceqq_f32(a, a)); }
  static T frexp(T x, T& e) {
    const uint32x4_t bits = vreinterpretq_u32_f32(x);
    e = vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(bits, 23)), vdupq_n_s32(126)));
    const uint32x4_t m = vorrq_u32(vandq_u32(bits, vdupq_n_u32(0x007fffff)), vdupq_n_u32(0x3f000000));
    return vreinterpretq_f32_u32(m);
  }
  static T select(M m, T a, T b) { return vbslq_f32(m, a, b); }
#if defined(__aarch64__)
  static float hsum(T a) { return vaddvq_f32(a); }
  static float hmax(T a) { return vmaxvq_f32(a); }
#else
  static float hsum(T a) {  // (a0 + a1) + (a2 + a3), the order of AArch64's faddp reduction
    const float32x2_t p = vpadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(vpadd_f32(p, p), 0);
  }
  static float hmax(T a) {
    const float32x2_t p = vpmax_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(vpmax_f32(p, p), 0);
  }
#endif
};

}  // namespace tern::cpu::simd
