// The portable "vector" of one float for the templated micro-kernels (kernels_impl.h): the scalar
// fallback every build has, and the numerics the SIMD variants are compared with.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tern::cpu::simd {

struct VecScalar {
  using T = float;
  using M = bool;
  static constexpr int W = 1;
  static constexpr const char* kIsa = "scalar";
  static T zero() { return 0.0f; }
  static T set1(float v) { return v; }
  static T load(const float* p) { return *p; }
  static void store(float* p, T v) { *p = v; }
  static T load_n(const float* p, int n, float fill) { return n > 0 ? *p : fill; }
  static void store_n(float* p, T v, int n) {
    if (n > 0) *p = v;
  }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  // Not std::fma: without FMA hardware that is a library call. Two roundings here.
  static T fma(T a, T b, T c) { return a * b + c; }
  static T max(T a, T b) { return a > b ? a : b; }
  static T min(T a, T b) { return a < b ? a : b; }
  static T abs(T a) { return std::fabs(a); }
  static T floor(T a) { return std::floor(a); }
  static T round(T a) { return std::nearbyint(a); }
  static T pow2(T n) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  static M lt(T a, T b) { return a < b; }
  static M ge(T a, T b) { return a >= b; }
  static M isnan(T a) { return a != a; }
  static T frexp(T x, T& e) {
    int i = 0;
    const float m = std::frexp(x, &i);
    e = static_cast<float>(i);
    return m;
  }
  static T select(M m, T a, T b) { return m ? a : b; }
  static float hsum(T a) { return a; }
  static float hmax(T a) { return a; }
};

}  // namespace tern::cpu::simd
