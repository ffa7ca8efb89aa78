// AVX-512 VNNI int8 micro-kernel (this file alone is compiled with -mavx512f -mavx512bw
// -mavx512vnni). Tile 12x16: 12 zmm accumulators of 16 int32 columns; per group of 4 k, one B
// vector (16 columns x 4 bytes) and one vpdpbusd per row with A's 4 bytes broadcast. vpdpbusd
// takes unsigned x signed bytes, so A arrives packed as a + 128 and col_off carries -128 colsum(B)
// (q8.h). The epilogue requantizes 16 columns at a time in 64-bit lanes, exactly as
// quant::requantize (round half away from zero on the magnitude, saturation before narrowing).
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "cpu/simd/q8_impl.h"
#include "reference/ops/attention_q8.h"

namespace tern::cpu::simd {

namespace {

// round_half_away(x mult / 2^(rsh + 1)) per int32 lane (quant::multiply_by_multiplier), in 64-bit
// lanes on the magnitude. kCap: magnitudes beyond 0x7FFF are cut there first, past any int8
// result, so a requantization saturates the same way without int32 overflow; without it the
// value must fit int32 (the rescaled operands of binary_row16).
template <bool kCap>
inline __m512i mulmult16(__m512i x, __m512i mult, __m512i rsh) {
  const __m512i zero = _mm512_setzero_si512();
  const __mmask16 neg = _mm512_cmplt_epi32_mask(x, zero);
  const __m512i ax = _mm512_abs_epi32(x);  // |INT32_MIN| = 2^31 read as unsigned: still right
  const __m512i pe = _mm512_mul_epu32(ax, mult);
  const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(ax, 32), _mm512_srli_epi64(mult, 32));
  const __m512i she = _mm512_and_si512(rsh, _mm512_set1_epi64(0xFFFFFFFF));
  const __m512i sho = _mm512_srli_epi64(rsh, 32);
  const __m512i one = _mm512_set1_epi64(1);
  __m512i re = _mm512_srli_epi64(_mm512_add_epi64(_mm512_srlv_epi64(pe, she), one), 1);
  __m512i ro = _mm512_srli_epi64(_mm512_add_epi64(_mm512_srlv_epi64(po, sho), one), 1);
  if constexpr (kCap) {
    const __m512i cap = _mm512_set1_epi64(0x7FFF);
    re = _mm512_min_epu64(re, cap);
    ro = _mm512_min_epu64(ro, cap);
  }
  const __m512i r = _mm512_mask_blend_epi32(0xAAAA, re, _mm512_slli_epi64(ro, 32));
  return _mm512_mask_sub_epi32(r, neg, zero, r);
}

// quant::requantize, 16 lanes: the product rounded half away from zero on the magnitude,
// saturated before narrowing.
inline __m512i requant16(__m512i v, __m512i mult, __m512i rsh, __m512i z_y, __m512i lo, __m512i hi) {
  const __m512i r = _mm512_add_epi32(mulmult16<true>(v, mult, rsh), z_y);
  return _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
}

// Transposed store of a tile (conv: rows are pixels, contiguous in Y; columns are channels): the
// rows, narrowed to bytes, are transposed 16 x 16 in registers (four unpack stages) and each
// column's `rows` bytes are stored at once.
inline void store_transposed(const __m128i* rows8, int rows, const Q8Tile& t) {
  const __m128i z = _mm_setzero_si128();
  auto row = [&](int r) { return r < rows ? rows8[r] : z; };
  __m128i a_lo[8], a_hi[8];
  for (int k = 0; k < 8; ++k) {
    a_lo[k] = _mm_unpacklo_epi8(row(2 * k), row(2 * k + 1));  // columns 0..7, rows 2k..2k+1
    a_hi[k] = _mm_unpackhi_epi8(row(2 * k), row(2 * k + 1));  // columns 8..15
  }
  __m128i b[4][4];  // [column quad][row quad]: 32-bit lane l = column 4 cq + l, rows 4 rq..4 rq + 3
  for (int k = 0; k < 4; ++k) {
    b[0][k] = _mm_unpacklo_epi16(a_lo[2 * k], a_lo[2 * k + 1]);
    b[1][k] = _mm_unpackhi_epi16(a_lo[2 * k], a_lo[2 * k + 1]);
    b[2][k] = _mm_unpacklo_epi16(a_hi[2 * k], a_hi[2 * k + 1]);
    b[3][k] = _mm_unpackhi_epi16(a_hi[2 * k], a_hi[2 * k + 1]);
  }
  __m128i c[8][2];  // [column pair][row octet]: 64-bit lane l = column 2 cp + l, rows 8 h..8 h + 7
  for (int cq = 0; cq < 4; ++cq)
    for (int h = 0; h < 2; ++h) {
      c[2 * cq][h] = _mm_unpacklo_epi32(b[cq][2 * h], b[cq][2 * h + 1]);
      c[2 * cq + 1][h] = _mm_unpackhi_epi32(b[cq][2 * h], b[cq][2 * h + 1]);
    }
  alignas(16) int8_t col[16];
  for (int64_t j = 0; j < t.cols_valid; ++j) {
    const __m128i v = (j & 1) ? _mm_unpackhi_epi64(c[j / 2][0], c[j / 2][1]) : _mm_unpacklo_epi64(c[j / 2][0], c[j / 2][1]);
    int8_t* dst = t.y + j * t.y_cs;
    if (rows == 12) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), v);
      const int32_t hi4 = _mm_extract_epi32(v, 2);
      std::memcpy(dst + 8, &hi4, 4);
    } else {
      _mm_store_si128(reinterpret_cast<__m128i*>(col), v);
      for (int r = 0; r < rows; ++r) dst[r] = col[r];
    }
  }
}

template <int R>
struct VnniTile {
  static void run(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
    const uint8_t* a = static_cast<const uint8_t*>(ap);
    const int8_t* b = static_cast<const int8_t*>(bp);
    __m512i acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
    auto groups = [&](const uint8_t* as, int64_t count) {
      for (int64_t g = 0; g < count; ++g, as += t.a_gstride, b += 64) {
        const __m512i bv = _mm512_loadu_si512(b);
        for (int r = 0; r < R; ++r) {
          int32_t a4;
          std::memcpy(&a4, as + r * t.a_rstride, 4);
          acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(a4), bv);
        }
      }
    };
    if (t.a_seg) {
      for (int64_t sgi = 0, segs = kgroups / t.a_seg_groups; sgi < segs; ++sgi) groups(a + t.a_seg[sgi], t.a_seg_groups);
    } else {
      groups(a, kgroups);
    }
    const Q8Cols& q = t.cols;
    const __m512i off = _mm512_loadu_si512(q.col_off), mult = _mm512_loadu_si512(q.mult);
    const __m512i rsh = _mm512_loadu_si512(q.rsh);
    const __m512i zb = q.zb ? _mm512_loadu_si512(q.zb) : _mm512_setzero_si512();
    const __m512i z_y = _mm512_set1_epi32(t.z_y), lo = _mm512_set1_epi32(t.lo), hi = _mm512_set1_epi32(t.hi);
    const __mmask16 cm = static_cast<__mmask16>((1u << t.cols_valid) - 1u);
    __m128i rows8[R];
    for (int r = 0; r < R; ++r) {
      __m512i v = _mm512_add_epi32(acc[r], off);
      if (q.zb) v = _mm512_sub_epi32(v, _mm512_mullo_epi32(zb, _mm512_set1_epi32(t.rowsum[r])));
      v = requant16(v, mult, rsh, z_y, lo, hi);
      if (t.y_cs == 1) _mm512_mask_cvtepi32_storeu_epi8(t.y + r * t.y_rs, cm, v);
      else rows8[r] = _mm512_cvtepi32_epi8(v);  // values already within int8
    }
    if (t.y_cs == 1) return;
    if (t.y_rs == 1) {
      store_transposed(rows8, R, t);  // conv: columns are channels, rows are pixels
      return;
    }
    alignas(16) int8_t tmp[R][16];
    for (int r = 0; r < R; ++r) _mm_store_si128(reinterpret_cast<__m128i*>(tmp[r]), rows8[r]);
    for (int64_t j = 0; j < t.cols_valid; ++j)
      for (int r = 0; r < R; ++r) t.y[j * t.y_cs + r * t.y_rs] = tmp[r][j];
  }
};

void vnni_tile(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  q8impl::by_rows<VnniTile, 12>(kgroups, ap, bp, t);
}

// quant::quantize_value, 16 lanes: the same IEEE division and round-half-to-even (the default
// rounding mode, as nearbyint), the same clamps; NaN lanes take the zero point.
void quantize16(const float* x, int8_t* y, int64_t n, float scale, int32_t zero_point) {
  const __m512 s = _mm512_set1_ps(scale), flo = _mm512_set1_ps(-1000.0f), fhi = _mm512_set1_ps(1000.0f);
  const __m512i z = _mm512_set1_epi32(zero_point), qlo = _mm512_set1_epi32(-128), qhi = _mm512_set1_epi32(127);
  const __m512i znan = _mm512_set1_epi32(std::min(std::max(zero_point, -128), 127));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 xv = _mm512_loadu_ps(x + i);
    __m512 v = _mm512_roundscale_ps(_mm512_div_ps(xv, s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(v, flo), fhi);
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), z);
    q = _mm512_min_epi32(_mm512_max_epi32(q, qlo), qhi);
    q = _mm512_mask_mov_epi32(q, _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), znan);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtepi32_epi8(q));
  }
  q8_quantize_scalar(x + i, y + i, n - i, scale, zero_point);
}

void requant_row16(const int32_t* acc, int8_t* y, int64_t n, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo, int32_t hi) {
  const __m512i m = _mm512_set1_epi32(mult), sh = _mm512_set1_epi32(rsh), z = _mm512_set1_epi32(z_y);
  const __m512i vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i v = requant16(_mm512_maskz_loadu_epi32(k, acc + i), m, sh, z, vlo, vhi);
    _mm512_mask_cvtepi32_storeu_epi8(y + i, k, v);
  }
}

// Per-channel multipliers (channels-last rows): 16 channels at a time, the tail masked.
void requant_cols16(const int32_t* acc, int8_t* y, int64_t pixels, int64_t c, const int32_t* mult, const int32_t* rsh,
                    int32_t z_y, int32_t lo, int32_t hi) {
  const __m512i z = _mm512_set1_epi32(z_y), vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
  for (int64_t p = 0; p < pixels; ++p) {
    const int32_t* a = acc + p * c;
    int8_t* yp = y + p * c;
    for (int64_t i = 0; i < c; i += 16) {
      const __mmask16 k = c - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (c - i)) - 1u);
      const __m512i m = _mm512_maskz_loadu_epi32(k, mult + i), sh = _mm512_maskz_loadu_epi32(k, rsh + i);
      const __m512i v = requant16(_mm512_maskz_loadu_epi32(k, a + i), m, sh, z, vlo, vhi);
      _mm512_mask_cvtepi32_storeu_epi8(yp + i, k, v);
    }
  }
}

// 16 int16 (masked) sign-extended to int32 (AVX512BW's 512-bit masked load: no AVX512VL needed).
inline __m512i load16(__mmask16 k, const int16_t* p) {
  return _mm512_cvtepi16_epi32(_mm512_castsi512_si256(_mm512_maskz_loadu_epi16(static_cast<__mmask32>(k), p)));
}

// The channels-last tap: 16 channels per step, int16 products widened to int32 (exact).
void mac_cols16(int32_t* acc, const int16_t* x, const int16_t* w, int64_t pixels, int64_t c, int64_t x_ps) {
  for (int64_t i = 0; i < c; i += 16) {
    const __mmask16 k = c - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (c - i)) - 1u);
    const __m512i wv = load16(k, w + i);
    for (int64_t p = 0; p < pixels; ++p) {
      int32_t* a = acc + p * c + i;
      const __m512i xv = load16(k, x + p * x_ps + i);
      _mm512_mask_storeu_epi32(a, k, _mm512_add_epi32(_mm512_maskz_loadu_epi32(k, a), _mm512_mullo_epi32(xv, wv)));
    }
  }
}

// The channels-last depthwise row: per block of 16 channels, the tap weights are loaded once
// (sign-extended to int32, then masked to their low 16 bits), and per pixel the accumulators stay in
// registers over the taps. vpmaddwd on (x sign-extended to int32, w with a zero high half) gives
// x * w + sign(x) * 0 exactly, one uop instead of vpmulld's two. Kernels past 7x7 take the generic
// loop.
void dw_row16(const Q8DwRow& r) {
  const int64_t taps = r.kh * r.kw;
  if (taps > 49) return q8impl::dw_row<requant_cols16>(r);
  const __m512i z = _mm512_set1_epi32(r.z_y), vlo = _mm512_set1_epi32(r.lo), vhi = _mm512_set1_epi32(r.hi);
  const __m512i low16 = _mm512_set1_epi32(0xFFFF);
  __m512i wv[49];
  int64_t off[49];
  for (int64_t c0 = 0; c0 < r.c; c0 += 16) {
    const bool full = r.c - c0 >= 16;
    const __mmask16 k = full ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (r.c - c0)) - 1u);
    for (int64_t a = 0, t = 0; a < r.kh; ++a)
      for (int64_t b = 0; b < r.kw; ++b, ++t) {
        wv[t] = _mm512_and_si512(load16(k, r.w + t * r.c + c0), low16);
        off[t] = a * r.x_rs + b * r.x_ts + c0;
      }
    const __m512i bias = _mm512_maskz_loadu_epi32(k, r.bias + c0);
    const __m512i m = _mm512_maskz_loadu_epi32(k, r.mult + c0), sh = _mm512_maskz_loadu_epi32(k, r.rsh + c0);
    for (int64_t p = 0; p < r.pixels; ++p) {
      const int16_t* xp = r.x + p * r.x_ps;
      // x of tap t: 16 int16 (a plain 32-byte load for a whole block, masked for the tail).
      auto x_at = [&](int64_t t) {
        return full ? _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + off[t]))) : load16(k, xp + off[t]);
      };
      __m512i acc0 = bias, acc1 = _mm512_setzero_si512();  // two chains for latency
      int64_t t = 0;
      for (; t + 1 < taps; t += 2) {
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(x_at(t), wv[t]));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(x_at(t + 1), wv[t + 1]));
      }
      if (t < taps) acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(x_at(t), wv[t]));
      const __m512i v = requant16(_mm512_add_epi32(acc0, acc1), m, sh, z, vlo, vhi);
      if (full) _mm_storeu_si128(reinterpret_cast<__m128i*>(r.y + p * r.c + c0), _mm512_cvtepi32_epi8(v));
      else _mm512_mask_cvtepi32_storeu_epi8(r.y + p * r.c + c0, k, v);
    }
  }
}

// copy_u8: 64 bytes per step, the tail masked.
void copy_u8_64(int8_t* d, const int8_t* s, int64_t n) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(s + i), flip));
  if (i < n) {
    const __mmask64 k = (~0ull) >> (64 - (n - i));
    _mm512_mask_storeu_epi8(d + i, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, s + i), flip));
  }
}

void dequantize16(const int8_t* x, float* y, int64_t n, float scale, int32_t zero_point) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i z = _mm512_set1_epi32(zero_point);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(q, z))));
  }
  q8_dequantize_scalar(x + i, y + i, n - i, scale, zero_point);
}

// int8 Attention (q8.h att_gemm): tile 8 rows x 32 columns (16 zmm accumulators), 8 x 16 for a last
// odd panel; per pair of k, the B vectors (columns x 2 int16) and one vpdpwssd per row and vector
// with A's pair broadcast. vpdpwssd (no saturation) adds both int16 products to the int32 lane:
// exact (q8.h).
template <int NV>
void att_gemm16_panel(int64_t m, int64_t n, int64_t j, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b,
                      int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i += kAttRows) {
    __m512i acc[kAttRows][NV];
    for (auto& r : acc)
      for (auto& x : r) x = _mm512_setzero_si512();
    const int16_t* bp = b + j * 2;
    const int16_t* ap = a + i * lda;
    for (int64_t p = 0; p < kpairs; ++p, bp += n * 2) {
      __m512i bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(bp + 32 * v);
      for (int r = 0; r < kAttRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, ap + r * lda + 2 * p, 4);
        const __m512i av = _mm512_set1_epi32(pair);
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpwssd_epi32(acc[r][v], av, bv[v]);
      }
    }
    for (int r = 0; r < kAttRows; ++r)
      for (int v = 0; v < NV; ++v) _mm512_storeu_si512(c + (i + r) * ldc + j + 16 * v, acc[r][v]);
  }
}
void att_gemm16(int64_t m, int64_t n, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b, int32_t* c,
                int64_t ldc) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) att_gemm16_panel<2>(m, n, j, kpairs, a, lda, b, c, ldc);
  if (j < n) att_gemm16_panel<1>(m, n, j, kpairs, a, lda, b, c, ldc);
}

// Q K^T on bytes (q8.h att_qk_u8): the same tiles with vpdpbusd, four k per instruction.
template <int NV>
void att_qk_u8_panel(int64_t m, int64_t n, int64_t j, int64_t kquads, const uint8_t* a, int64_t lda, const int8_t* b,
                     const int32_t* col, int32_t* c, int64_t ldc) {
  __m512i cv[NV];
  for (int v = 0; v < NV; ++v) cv[v] = _mm512_loadu_si512(col + j + 16 * v);
  for (int64_t i = 0; i < m; i += kAttRows) {
    __m512i acc[kAttRows][NV];
    for (auto& r : acc)
      for (int v = 0; v < NV; ++v) r[v] = cv[v];
    const int8_t* bp = b + j * 4;
    const uint8_t* ap = a + i * lda;
    for (int64_t g = 0; g < kquads; ++g, bp += n * 4) {
      __m512i bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(bp + 64 * v);
      for (int r = 0; r < kAttRows; ++r) {
        int32_t quad;
        std::memcpy(&quad, ap + r * lda + 4 * g, 4);
        const __m512i av = _mm512_set1_epi32(quad);
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
      }
    }
    for (int r = 0; r < kAttRows; ++r)
      for (int v = 0; v < NV; ++v) _mm512_storeu_si512(c + (i + r) * ldc + j + 16 * v, acc[r][v]);
  }
}
void att_qk_u8(int64_t m, int64_t n, int64_t kquads, const uint8_t* a, int64_t lda, const int8_t* b, const int32_t* col,
               int32_t* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) att_qk_u8_panel<2>(m, n, j, kquads, a, lda, b, col, c, ldc);
  if (j < n) att_qk_u8_panel<1>(m, n, j, kquads, a, lda, b, col, c, ldc);
}

// One softmax row (reference/ops/attention_q8.h softmax_row) 16 lanes at a time: the same single
// IEEE operations (cvtdq2ps, mulps, minps, cvtps2dq under the default round-to-nearest-even, the
// division once per row), the three exp tables read by register permutes, the sum exact in int64.
void att_softmax16(const int32_t* s, int64_t n, float c256, int32_t* e, int16_t* p) {
  namespace aq = ref::attq8;
  const __m512 t_hi = _mm512_loadu_ps(aq::kExp.hi), t_mid = _mm512_loadu_ps(aq::kExp.mid), t_lo = _mm512_loadu_ps(aq::kExp.lo);
  const __m512i m15 = _mm512_set1_epi32(15), m16 = _mm512_set1_epi32(16);
  const __m512 q22 = _mm512_set1_ps(aq::kExpScale);
  auto mask = [&](int64_t j) { return n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1); };
  __m512i vmax = _mm512_set1_epi32(INT32_MIN);
  for (int64_t j = 0; j < n; j += 16) vmax = _mm512_max_epi32(vmax, _mm512_mask_loadu_epi32(vmax, mask(j), s + j));
  const __m512i mx = _mm512_set1_epi32(_mm512_reduce_max_epi32(vmax));
  const __m512 vc = _mm512_set1_ps(c256), cap = _mm512_set1_ps(static_cast<float>(ref::attq8::kTableLast));
  __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = mask(j);
    const __m512i d = _mm512_sub_epi32(mx, _mm512_maskz_loadu_epi32(k, s + j));
    const __m512 t = _mm512_min_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(d), vc), cap);
    const __m512i u = _mm512_cvtps_epi32(t);
    const __m512i a = _mm512_srli_epi32(u, 8);  // 16 (u = 4096): hi[16] = 0
    const __m512 eh = _mm512_maskz_permutexvar_ps(_mm512_cmplt_epi32_mask(a, m16), a, t_hi);
    const __m512 em = _mm512_permutexvar_ps(_mm512_and_si512(_mm512_srli_epi32(u, 4), m15), t_mid);
    const __m512 el = _mm512_permutexvar_ps(_mm512_and_si512(u, m15), t_lo);
    const __m512 ef = _mm512_mul_ps(_mm512_mul_ps(eh, em), el);
    const __m512i ev = _mm512_maskz_mov_epi32(k, _mm512_cvtps_epi32(_mm512_mul_ps(ef, q22)));
    _mm512_mask_storeu_epi32(e + j, k, ev);
    sum0 = _mm512_add_epi64(sum0, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(ev)));
    sum1 = _mm512_add_epi64(sum1, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(ev, 1)));
  }
  const int64_t sum = _mm512_reduce_add_epi64(_mm512_add_epi64(sum0, sum1));
  const __m512 r = _mm512_set1_ps(static_cast<float>(ref::attq8::kProbMax) / static_cast<float>(sum));  // prob_factor
  const __m512i pmax = _mm512_set1_epi32(ref::attq8::kProbMax);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = mask(j);
    const __m512 pe = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, e + j)), r);
    _mm512_mask_cvtepi32_storeu_epi16(p + j, k, _mm512_min_epi32(_mm512_cvtps_epi32(pe), pmax));
  }
}

// int8 Add / Sub / Mul (Q8BinaryRow): the operands rescaled arithmetically 16 lanes at a time.
void binary_row16(const int8_t* a, int64_t sa, const int8_t* b, int64_t sb, int8_t* y, int64_t n, const Q8BinaryRow& p) {
  const __m512i m = _mm512_set1_epi32(p.mult), sh = _mm512_set1_epi32(p.rsh), z = _mm512_set1_epi32(p.z_y);
  const __m512i vlo = _mm512_set1_epi32(-128), vhi = _mm512_set1_epi32(127);
  const __m512i za = _mm512_set1_epi32(p.z_a), zb = _mm512_set1_epi32(p.z_b);
  const __m512i ma = _mm512_set1_epi32(p.mult_a), sha = _mm512_set1_epi32(p.rsh_a);
  const __m512i mb = _mm512_set1_epi32(p.mult_b), shb = _mm512_set1_epi32(p.rsh_b);
  const bool mul = p.op == Q8BinaryRow::kMul;
  auto term_a = [&](__m512i q) {  // q: a as int32
    const __m512i d = _mm512_sub_epi32(q, za);
    return mul ? d : mulmult16<false>(_mm512_slli_epi32(d, 20), ma, sha);
  };
  auto term_b = [&](__m512i q) {
    const __m512i d = _mm512_sub_epi32(q, zb);
    if (mul) return d;
    const __m512i t = mulmult16<false>(_mm512_slli_epi32(d, 20), mb, shb);
    return p.op == Q8BinaryRow::kSub ? _mm512_sub_epi32(_mm512_setzero_si512(), t) : t;
  };
  auto load16 = [](const int8_t* q, int64_t cnt) {  // (no AVX-512 VL here for a masked 16-byte load)
    if (cnt >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    alignas(16) int8_t t[16] = {};
    std::memcpy(t, q, static_cast<size_t>(cnt));
    return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
  };
  // A step-0 operand is one value: its term is computed once.
  const __m512i a0 = term_a(_mm512_set1_epi32(a[0])), b0 = term_b(_mm512_set1_epi32(b[0]));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i va = sa ? term_a(_mm512_cvtepi8_epi32(load16(a + i, n - i))) : a0;
    const __m512i vb = sb ? term_b(_mm512_cvtepi8_epi32(load16(b + i, n - i))) : b0;
    const __m512i acc = mul ? _mm512_mullo_epi32(va, vb) : _mm512_add_epi32(va, vb);
    _mm512_mask_cvtepi32_storeu_epi8(y + i, k, requant16(acc, m, sh, z, vlo, vhi));
  }
}

}  // namespace

const Q8Kernels& q8_kernels_avx512vnni() {
  static const Q8Kernels k{Isa::Avx512, "gemm_q8_12x16__avx512vnni", 12, 16, 4, false, true, true, vnni_tile,
                           quantize16, dequantize16, requant_row16, q8impl::mac_row,
                           mac_cols16, requant_cols16, dw_row16, copy_u8_64, att_gemm16, att_softmax16, att_qk_u8,
                           binary_row16, /*seg_a=*/true};
  return k;
}

}  // namespace tern::cpu::simd
