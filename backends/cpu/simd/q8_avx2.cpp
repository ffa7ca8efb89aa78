// AVX2 int8 micro-kernel (this file alone is compiled with -mavx2 -mfma). Operands are sign-extended
// to int16 at pack time and multiplied with _mm256_madd_epi16 (two exact int16 products summed into
// each int32 lane; no saturation, unlike _mm256_maddubs_epi16). Tile 4x16: 8 ymm accumulators; per
// pair of k, two B vectors (16 columns x 2 int16) and one broadcast of A's pair per row. The
// epilogue requantizes 8 columns at a time in 64-bit lanes, exactly as quant::requantize.
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "cpu/simd/q8_impl.h"
#include "reference/ops/attention_q8.h"

namespace tern::cpu::simd {

namespace {

inline __m256i requant8(__m256i v, __m256i mult, __m256i rsh, __m256i z_y, __m256i lo, __m256i hi) {
  const __m256i av = _mm256_abs_epi32(v);  // |INT32_MIN| = 2^31 read as unsigned: still right
  const __m256i pe = _mm256_mul_epu32(av, mult);
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(av, 32), _mm256_srli_epi64(mult, 32));
  const __m256i she = _mm256_and_si256(rsh, _mm256_set1_epi64x(0xFFFFFFFF));
  const __m256i sho = _mm256_srli_epi64(rsh, 32);
  const __m256i one = _mm256_set1_epi64x(1), cap = _mm256_set1_epi64x(0x7FFF);
  __m256i re = _mm256_srli_epi64(_mm256_add_epi64(_mm256_srlv_epi64(pe, she), one), 1);
  __m256i ro = _mm256_srli_epi64(_mm256_add_epi64(_mm256_srlv_epi64(po, sho), one), 1);
  re = _mm256_blendv_epi8(re, cap, _mm256_cmpgt_epi64(re, cap));  // values < 2^62: signed compare is fine
  ro = _mm256_blendv_epi8(ro, cap, _mm256_cmpgt_epi64(ro, cap));
  __m256i r = _mm256_blend_epi32(re, _mm256_slli_epi64(ro, 32), 0xAA);
  r = _mm256_sign_epi32(r, v);  // negate where v < 0 (v == 0 gives r == 0 anyway)
  r = _mm256_add_epi32(r, z_y);
  return _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
}

template <int R>
struct Avx2Tile {
  static void run(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
    const int16_t* a = static_cast<const int16_t*>(ap);
    const int16_t* b = static_cast<const int16_t*>(bp);
    __m256i acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int64_t g = 0; g < kgroups; ++g, a += t.a_gstride, b += 32) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
      for (int r = 0; r < R; ++r) {
        int32_t a2;
        std::memcpy(&a2, a + r * 2, 4);
        const __m256i av = _mm256_set1_epi32(a2);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
      }
    }
    const Q8Cols& q = t.cols;
    const __m256i z_y = _mm256_set1_epi32(t.z_y), lo = _mm256_set1_epi32(t.lo), hi = _mm256_set1_epi32(t.hi);
    alignas(32) int32_t tmp[R][16];
    for (int h = 0; h < 2; ++h) {
      const __m256i off = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.col_off + h * 8));
      const __m256i mult = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.mult + h * 8));
      const __m256i rsh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.rsh + h * 8));
      const __m256i zb = q.zb ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.zb + h * 8)) : _mm256_setzero_si256();
      for (int r = 0; r < R; ++r) {
        __m256i v = _mm256_add_epi32(acc[r][h], off);
        if (q.zb) v = _mm256_sub_epi32(v, _mm256_mullo_epi32(zb, _mm256_set1_epi32(t.rowsum[r])));
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp[r] + h * 8), requant8(v, mult, rsh, z_y, lo, hi));
      }
    }
    if (t.y_cs == 1 && t.cols_valid == 16) {
      for (int r = 0; r < R; ++r) {
        const __m256i v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp[r]));
        const __m256i v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp[r] + 8));
        const __m128i p0 = _mm_packs_epi32(_mm256_castsi256_si128(v0), _mm256_extracti128_si256(v0, 1));
        const __m128i p1 = _mm_packs_epi32(_mm256_castsi256_si128(v1), _mm256_extracti128_si256(v1, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(t.y + r * t.y_rs), _mm_packs_epi16(p0, p1));
      }
      return;
    }
    for (int64_t j = 0; j < t.cols_valid; ++j)
      for (int r = 0; r < R; ++r) t.y[j * t.y_cs + r * t.y_rs] = static_cast<int8_t>(tmp[r][j]);
  }
};

void avx2_tile(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  q8impl::by_rows<Avx2Tile, 4>(kgroups, ap, bp, t);
}

// quant::quantize_value, 8 lanes (see q8_avx512vnni.cpp).
void quantize8(const float* x, int8_t* y, int64_t n, float scale, int32_t zero_point) {
  const __m256 s = _mm256_set1_ps(scale), flo = _mm256_set1_ps(-1000.0f), fhi = _mm256_set1_ps(1000.0f);
  const __m256i z = _mm256_set1_epi32(zero_point), qlo = _mm256_set1_epi32(-128), qhi = _mm256_set1_epi32(127);
  const __m256i znan = _mm256_set1_epi32(std::min(std::max(zero_point, -128), 127));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    __m256 v = _mm256_round_ps(_mm256_div_ps(xv, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_min_ps(_mm256_max_ps(v, flo), fhi);
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
    q = _mm256_min_epi32(_mm256_max_epi32(q, qlo), qhi);
    q = _mm256_blendv_epi8(q, znan, _mm256_castps_si256(_mm256_cmp_ps(xv, xv, _CMP_UNORD_Q)));
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), _mm_packs_epi16(p16, p16));
  }
  q8_quantize_scalar(x + i, y + i, n - i, scale, zero_point);
}

void requant_row8(const int32_t* acc, int8_t* y, int64_t n, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo, int32_t hi) {
  const __m256i m = _mm256_set1_epi32(mult), sh = _mm256_set1_epi32(rsh), z = _mm256_set1_epi32(z_y);
  const __m256i vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = requant8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + i)), m, sh, z, vlo, vhi);
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), _mm_packs_epi16(p16, p16));
  }
  q8_requant_row_scalar(acc + i, y + i, n - i, mult, rsh, z_y, lo, hi);
}

// Per-channel multipliers (channels-last rows): 8 channels at a time, the tail in scalar.
void requant_cols8(const int32_t* acc, int8_t* y, int64_t pixels, int64_t c, const int32_t* mult, const int32_t* rsh,
                   int32_t z_y, int32_t lo, int32_t hi) {
  const __m256i z = _mm256_set1_epi32(z_y), vlo = _mm256_set1_epi32(lo), vhi = _mm256_set1_epi32(hi);
  const int64_t c8 = c / 8 * 8;
  for (int64_t p = 0; p < pixels; ++p) {
    const int32_t* a = acc + p * c;
    int8_t* yp = y + p * c;
    for (int64_t i = 0; i < c8; i += 8) {
      const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(mult + i));
      const __m256i sh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rsh + i));
      const __m256i v = requant8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)), m, sh, z, vlo, vhi);
      const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(yp + i), _mm_packs_epi16(p16, p16));
    }
    for (int64_t i = c8; i < c; ++i) yp[i] = q8_requantize(a[i], mult[i], rsh[i], z_y, lo, hi);
  }
}

void dequantize8(const int8_t* x, float* y, int64_t n, float scale, int32_t zero_point) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i z = _mm256_set1_epi32(zero_point);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_sub_epi32(q, z))));
  }
  q8_dequantize_scalar(x + i, y + i, n - i, scale, zero_point);
}

// int8 Attention (q8.h att_gemm): tile 4 rows x 16 columns (8 ymm accumulators), _mm256_madd_epi16
// of A's broadcast pair with two B vectors (16 columns x 2 int16): exact (q8.h).
void att_gemm8(int64_t m, int64_t n, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b, int32_t* c,
               int64_t ldc) {
  for (int64_t j = 0; j < n; j += 16)
    for (int64_t i = 0; i < m; i += 4) {
      __m256i acc[4][2];
      for (auto& r : acc) r[0] = r[1] = _mm256_setzero_si256();
      const int16_t* bp = b + j * 2;
      const int16_t* ap = a + i * lda;
      for (int64_t p = 0; p < kpairs; ++p, bp += n * 2) {
        const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp));
        const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 16));
        for (int r = 0; r < 4; ++r) {
          int32_t pair;
          std::memcpy(&pair, ap + r * lda + 2 * p, 4);
          const __m256i av = _mm256_set1_epi32(pair);
          acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
          acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
        }
      }
      for (int r = 0; r < 4; ++r) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + (i + r) * ldc + j), acc[r][0]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + (i + r) * ldc + j + 8), acc[r][1]);
      }
    }
}

// One softmax row (reference/ops/attention_q8.h softmax_row) 8 lanes at a time, the same single
// IEEE operations as the scalar definition (cvtps2dq: the default round-to-nearest-even), each
// 16-entry exp table read by two vpermps and a blend; the tail lanes masked or stored through a
// small buffer.
void att_softmax8(const int32_t* s, int64_t n, float c256, int32_t* e, int16_t* p) {
  namespace aq = ref::attq8;
  struct Lut {
    __m256 lo, hi;
    __m256 at(__m256i i) const {  // i in 0..15 (vpermps reads the low 3 bits)
      const __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(i, 28));  // bit 3 to the sign
      return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, i), _mm256_permutevar8x32_ps(hi, i), sel);
    }
  };
  const Lut t_hi{_mm256_loadu_ps(aq::kExp.hi), _mm256_loadu_ps(aq::kExp.hi + 8)};
  const Lut t_mid{_mm256_loadu_ps(aq::kExp.mid), _mm256_loadu_ps(aq::kExp.mid + 8)};
  const Lut t_lo{_mm256_loadu_ps(aq::kExp.lo), _mm256_loadu_ps(aq::kExp.lo + 8)};
  const __m256i m15 = _mm256_set1_epi32(15);
  const __m256 q22 = _mm256_set1_ps(aq::kExpScale);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  auto mask = [&](int64_t j) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(std::min<int64_t>(n - j, 8))), lane); };
  const __m256i lowest = _mm256_set1_epi32(INT32_MIN);
  __m256i vmax = lowest;
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i k = mask(j);
    vmax = _mm256_max_epi32(vmax, _mm256_blendv_epi8(lowest, _mm256_maskload_epi32(s + j, k), k));
  }
  __m128i m4 = _mm_max_epi32(_mm256_castsi256_si128(vmax), _mm256_extracti128_si256(vmax, 1));
  m4 = _mm_max_epi32(m4, _mm_shuffle_epi32(m4, 0x4E));
  m4 = _mm_max_epi32(m4, _mm_shuffle_epi32(m4, 0xB1));
  const __m256i mx = _mm256_set1_epi32(_mm_cvtsi128_si32(m4));
  const __m256 vc = _mm256_set1_ps(c256), cap = _mm256_set1_ps(static_cast<float>(ref::attq8::kTableLast));
  __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i k = mask(j);
    const __m256i d = _mm256_sub_epi32(mx, _mm256_maskload_epi32(s + j, k));
    const __m256 t = _mm256_min_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), vc), cap);
    const __m256i u = _mm256_cvtps_epi32(t);
    const __m256i a = _mm256_srli_epi32(u, 8);  // 16 (u = 4096): exp 0, as hi[16]
    const __m256 eh = _mm256_andnot_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(a, m15)), t_hi.at(a));
    const __m256 em = t_mid.at(_mm256_and_si256(_mm256_srli_epi32(u, 4), m15));
    const __m256 el = t_lo.at(_mm256_and_si256(u, m15));
    const __m256 ef = _mm256_mul_ps(_mm256_mul_ps(eh, em), el);
    const __m256i ev = _mm256_and_si256(k, _mm256_cvtps_epi32(_mm256_mul_ps(ef, q22)));
    _mm256_maskstore_epi32(e + j, k, ev);
    sum0 = _mm256_add_epi64(sum0, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(ev)));
    sum1 = _mm256_add_epi64(sum1, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(ev, 1)));
  }
  alignas(32) int64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(sum0, sum1));
  const int64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  const __m256 r = _mm256_set1_ps(static_cast<float>(ref::attq8::kProbMax) / static_cast<float>(sum));  // prob_factor
  const __m256i pmax = _mm256_set1_epi32(ref::attq8::kProbMax);
  for (int64_t j = 0; j < n; j += 8) {
    const __m256i k = mask(j);
    const __m256 pe = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_maskload_epi32(e + j, k)), r);
    const __m256i pv = _mm256_min_epi32(_mm256_cvtps_epi32(pe), pmax);
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(pv), _mm256_extracti128_si256(pv, 1));
    if (n - j >= 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p + j), p16);
    } else {
      alignas(16) int16_t tail[8];
      _mm_store_si128(reinterpret_cast<__m128i*>(tail), p16);
      for (int64_t i = 0; i < n - j; ++i) p[j + i] = tail[i];
    }
  }
}

}  // namespace

const Q8Kernels& q8_kernels_avx2() {
  static const Q8Kernels k{Isa::Avx2, "gemm_q8_4x16__avx2", 4, 16, 2, true, false, false, avx2_tile,
                           quantize8, dequantize8, requant_row8, q8impl::mac_row,
                           q8impl::mac_cols, requant_cols8, q8impl::dw_row<requant_cols8>,
                           q8impl::copy_u8, att_gemm8, att_softmax8, nullptr};
  return k;
}

}  // namespace tern::cpu::simd
