// AVX-512F vector of 16 floats for the templated micro-kernels (kernels_impl.h). Included only by
// kernels_avx512.cpp, which is compiled with -mavx512f -mfma.
#pragma once

#include <immintrin.h>

namespace tern::cpu::simd {

struct VecAvx512 {
  using T = __m512;
  using M = __mmask16;
  static constexpr int W = 16;
  static constexpr const char* kIsa = "avx512";
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T load_n(const float* p, int n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<M>((1u << n) - 1), p);
  }
  static void store_n(float* p, T v, int n) { _mm512_mask_storeu_ps(p, static_cast<M>((1u << n) - 1), v); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c, one rounding
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T abs(T a) { return _mm512_abs_ps(a); }
  static T floor(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127].
  static T pow2(T n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
  }
  // a * 2^n for integral n, one rounding (vscalefps): exp's scaling in one instruction instead of
  // two pow2 factors (kernels_impl.h vexp uses it when the vector type has it).
  static T scalef(T a, T n) { return _mm512_scalef_ps(a, n); }
  // 1 / a for a in [1, 2^30] (the transcendentals' 1 / (1 + something positive)): vrcp14ps and one
  // Newton step, ~1 ulp, at a fraction of vdivps's cost (its 512-bit throughput is one per 16
  // cycles on Intel cores).
  static T recip(T a) {
    const T r = _mm512_rcp14_ps(a);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(1.0f)), r);  // r + r (1 - a r)
  }
  static M lt(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M ge(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M isnan(T a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  // x = m * 2^e with m in [0.5, 1), for positive normal x.
  static T frexp(T x, T& e) {
    e = _mm512_add_ps(_mm512_getexp_ps(x), _mm512_set1_ps(1.0f));
    return _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_src);
  }
  static T select(M m, T a, T b) { return _mm512_mask_blend_ps(m, b, a); }  // m ? a : b
  static float hsum(T a) { return _mm512_reduce_add_ps(a); }
  static float hmax(T a) { return _mm512_reduce_max_ps(a); }
};

}  // namespace tern::cpu::simd
