// AArch64 NEON vector of 4 floats for the templated micro-kernels (kernels_impl.h). Included only
// by kernels_neon.cpp, which is compiled only for aarch64 (armv7 lacks vdivq/vrndmq/vfmaq and
// uses the scalar variant).
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
  static T div(T a, T b) { return vdivq_f32(a, b); }
  static T fma(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T max(T a, T b) { return vmaxq_f32(a, b); }  // NaN-propagating, unlike x86 max
  static T min(T a, T b) { return vminq_f32(a, b); }
  static T abs(T a) { return vabsq_f32(a); }
  static T floor(T a) { return vrndmq_f32(a); }
  static T round(T a) { return vrndnq_f32(a); }
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
  static float hsum(T a) { return vaddvq_f32(a); }
  static float hmax(T a) { return vmaxvq_f32(a); }
};

}  // namespace tern::cpu::simd
