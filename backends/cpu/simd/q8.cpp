// int8 GEMM (q8.h): packing, the blocked driver over a micro-kernel table, the run-time choice of
// the table, and the scalar micro-kernel (compiled without ISA flags: it runs everywhere).
#include "cpu/simd/q8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/quant.h"
#include "cpu/simd/q8_impl.h"
#include "reference/ops/attention_q8.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace tern::cpu::simd {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
// Bytes of B streamed per pass over a row block: stays in L2 while every row panel reuses it.
constexpr size_t kBChunkBytes = 192 * 1024;

template <int R>
struct ScalarTile {
  static void run(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
    const int8_t* a = static_cast<const int8_t*>(ap);
    const int8_t* b = static_cast<const int8_t*>(bp);
    uint32_t c[R * 4] = {};  // wrapping, as the reference's int32 sum
    for (int64_t g = 0; g < kgroups; ++g, a += t.a_gstride, b += 16)
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < 4; ++j) {
          int32_t s = 0;
          for (int e = 0; e < 4; ++e) s += static_cast<int32_t>(a[r * t.a_rstride + e]) * b[j * 4 + e];
          c[r * 4 + j] += static_cast<uint32_t>(s);
        }
    int32_t ci[R * 4];
    std::memcpy(ci, c, sizeof(ci));
    q8impl::epilogue_scalar(ci, 4, t);
  }
};

void scalar_tile(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  q8impl::by_rows<ScalarTile, 4>(kgroups, ap, bp, t);
}

#if defined(__x86_64__) || defined(_M_X64)
bool has_vnni() {
  static const bool ok = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512f");
  return ok;
}
#endif

#if defined(__aarch64__)
bool has_dotprod() {
#if defined(__linux__)
  static const bool ok = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  return ok;
#else
  return false;
#endif
}
#endif

template <typename E>
void pack_b_impl(const Q8Kernels& kt, int64_t k, int64_t n, const int8_t* b, int64_t rs, int64_t cs, E* out) {
  const int nr = kt.nr, kg = kt.kg;
  const int64_t kgroups = (k + kg - 1) / kg;
  for (int64_t p = 0; p < q8_panels(kt, n); ++p)
    for (int64_t g = 0; g < kgroups; ++g)
      for (int c = 0; c < nr; ++c)
        for (int e = 0; e < kg; ++e, ++out) {
          const int64_t kk = g * kg + e, j = p * nr + c;
          *out = kk < k && j < n ? static_cast<E>(b[kk * rs + j * cs]) : E(0);
        }
}

template <typename E, bool U8>
inline E to_packed(int8_t v) {
  if constexpr (U8) return static_cast<E>(static_cast<uint8_t>(v) ^ 0x80u);
  else return static_cast<E>(v);
}

// A block of rows: [kgroups][rows][KG] elements, k padded with zeros; rowsum of
// the rows (the original signed values) when asked. Two layouts of A are common and get loops
// without index arithmetic: rows of contiguous k (cs == 1: Gemm/MatMul), and columns of contiguous
// rows (rs == 1: the conv's [k, pixels] matrices), the other layouts take the second loop.
template <typename E, bool U8, int KG>
void pack_a_panel(int64_t rows, int64_t k, const int8_t* a, int64_t rs, int64_t cs, E* out, int32_t* rowsum) {
  // Sums of the rows when each row's k elements are contiguous (cs == 1).
  auto row_sums = [&] {
    for (int64_t r = 0; r < rows; ++r) {
      int32_t s = 0;
      for (int64_t kk = 0; kk < k; ++kk) s += a[r * rs + kk];
      rowsum[r] = s;
    }
  };
  const int64_t kgroups = (k + KG - 1) / KG, kfull = k / KG;
  const int64_t gstride = rows * KG;
  if constexpr (KG == 4 && sizeof(E) == 1) {
    if (cs == 1) {
      // Rows of contiguous k (Gemm/MatMul, the channels-last conv's im2col): each group of 4 k
      // moves as one 32-bit word (flipped to u8 where the kernel wants it).
      const uint32_t flip = U8 ? 0x80808080u : 0u;
      for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* ar = reinterpret_cast<const uint8_t*>(a + r * rs);
        uint8_t* o = reinterpret_cast<uint8_t*>(out + r * KG);
        for (int64_t g = 0; g < kfull; ++g) {
          uint32_t w;
          std::memcpy(&w, ar + g * 4, 4);
          w ^= flip;
          std::memcpy(o + g * gstride, &w, 4);
        }
        if (kfull < kgroups)
          for (int e = 0; e < KG; ++e)
            out[kfull * gstride + r * KG + e] = kfull * KG + e < k ? to_packed<E, U8>(a[r * rs + kfull * KG + e]) : E(0);
      }
      if (rowsum) row_sums();
      return;
    }
  }
  if (cs == 1) {
    for (int64_t r = 0; r < rows; ++r) {
      const int8_t* ar = a + r * rs;
      E* o = out + r * KG;
      for (int64_t g = 0; g < kfull; ++g, o += gstride, ar += KG)
        for (int e = 0; e < KG; ++e) o[e] = to_packed<E, U8>(ar[e]);
      if (kfull < kgroups)
        for (int e = 0; e < KG; ++e) o[e] = kfull * KG + e < k ? to_packed<E, U8>(ar[e]) : E(0);
    }
    if (rowsum) row_sums();
    return;
  }
  if constexpr (KG == 4 && sizeof(E) == 1) {
    if (rs == 1) {
      // Columns of contiguous rows (the conv's [k, pixels] matrices): each group of 4 k is a 4 x rows
      // byte transpose, assembled as one 32-bit word per row (the compiler vectorizes the loop).
      const uint32_t flip = U8 ? 0x80808080u : 0u;
      for (int64_t g = 0; g < kfull; ++g) {
        const uint8_t* s0 = reinterpret_cast<const uint8_t*>(a + (g * 4) * cs);
        const uint8_t* s1 = s0 + cs;
        const uint8_t* s2 = s1 + cs;
        const uint8_t* s3 = s2 + cs;
        uint8_t* o = reinterpret_cast<uint8_t*>(out + g * gstride);
        for (int64_t r = 0; r < rows; ++r) {
          const uint32_t w = (static_cast<uint32_t>(s0[r]) | static_cast<uint32_t>(s1[r]) << 8 |
                              static_cast<uint32_t>(s2[r]) << 16 | static_cast<uint32_t>(s3[r]) << 24) ^ flip;
          std::memcpy(o + r * 4, &w, 4);
        }
      }
      for (int64_t g = kfull; g < kgroups; ++g)
        for (int e = 0; e < KG; ++e) {
          E* o = out + g * gstride + e;
          const int64_t kk = g * KG + e;
          for (int64_t r = 0; r < rows; ++r) o[r * KG] = kk < k ? to_packed<E, U8>(a[kk * cs + r]) : E(0);
        }
      if (rowsum) {
        for (int64_t r = 0; r < rows; ++r) rowsum[r] = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          for (int64_t r = 0; r < rows; ++r) rowsum[r] += a[kk * cs + r];
      }
      return;
    }
  }
  for (int64_t g = 0; g < kgroups; ++g)
    for (int e = 0; e < KG; ++e) {
      E* o = out + g * gstride + e;
      const int64_t kk = g * KG + e;
      if (kk >= k) {
        for (int64_t r = 0; r < rows; ++r) o[r * KG] = E(0);
        continue;
      }
      const int8_t* src = a + kk * cs;
      for (int64_t r = 0; r < rows; ++r) o[r * KG] = to_packed<E, U8>(src[r * rs]);
    }
  if (rowsum) {
    for (int64_t r = 0; r < rows; ++r) rowsum[r] = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t r = 0; r < rows; ++r) rowsum[r] += a[kk * cs + r * rs];
  }
}

void pack_a(const Q8Kernels& kt, int64_t rows, int64_t k, const int8_t* a, int64_t rs, int64_t cs, void* out,
            int32_t* rowsum) {
  if (kt.wide && kt.kg == 2) pack_a_panel<int16_t, false, 2>(rows, k, a, rs, cs, static_cast<int16_t*>(out), rowsum);
  else if (kt.a_u8 && kt.kg == 4) pack_a_panel<uint8_t, true, 4>(rows, k, a, rs, cs, static_cast<uint8_t*>(out), rowsum);
  else if (!kt.wide && !kt.a_u8 && kt.kg == 4) pack_a_panel<int8_t, false, 4>(rows, k, a, rs, cs, static_cast<int8_t*>(out), rowsum);
  else std::abort();  // no such table
}

}  // namespace

void q8_quantize_scalar(const float* x, int8_t* y, int64_t n, float scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::quantize_value(x[i], scale, zero_point);
}

void q8_dequantize_scalar(const int8_t* x, float* y, int64_t n, float scale, int32_t zero_point) {
  for (int64_t i = 0; i < n; ++i) y[i] = quant::dequantize_value(x[i], scale, zero_point);
}

void q8_requant_row_scalar(const int32_t* acc, int8_t* y, int64_t n, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo,
                           int32_t hi) {
  for (int64_t i = 0; i < n; ++i) y[i] = q8_requantize(acc[i], mult, rsh, z_y, lo, hi);
}

void q8_requant_cols_scalar(const int32_t* acc, int8_t* y, int64_t pixels, int64_t c, const int32_t* mult,
                            const int32_t* rsh, int32_t z_y, int32_t lo, int32_t hi) {
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t i = 0; i < c; ++i) y[p * c + i] = q8_requantize(acc[p * c + i], mult[i], rsh[i], z_y, lo, hi);
}

// int8 Attention's products, rows of A times B packed in pairs of k (q8.h att_gemm): a plain loop
// over columns that the compiler vectorizes (int16 operands, int32 sums; q8.h).
void q8_att_gemm_scalar(int64_t m, int64_t n, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b, int32_t* c,
                        int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    int32_t* cr = c + i * ldc;
    std::fill(cr, cr + n, 0);
    const int16_t* ar = a + i * lda;
    for (int64_t p = 0; p < kpairs; ++p) {
      const int32_t a0 = ar[2 * p], a1 = ar[2 * p + 1];
      const int16_t* bp = b + p * n * 2;
      for (int64_t j = 0; j < n; ++j) cr[j] += a0 * bp[2 * j] + a1 * bp[2 * j + 1];
    }
  }
}

void q8_att_softmax_scalar(const int32_t* s, int64_t n, float c256, int32_t* e, int16_t* p) {
  ref::attq8::softmax_row(s, n, c256, e, p);
}

const Q8Kernels& q8_kernels_scalar() {
  static const Q8Kernels k{Isa::Scalar, "gemm_q8_4x4__scalar", 4, 4, 4, false, false, true, scalar_tile,
                           q8_quantize_scalar, q8_dequantize_scalar, q8_requant_row_scalar, q8impl::mac_row,
                           q8impl::mac_cols, q8_requant_cols_scalar, q8impl::dw_row<q8_requant_cols_scalar>,
                           q8impl::copy_u8, q8_att_gemm_scalar, q8_att_softmax_scalar, nullptr};
  return k;
}

const Q8Kernels* q8_kernels_for(Isa isa) {
  if (!kernels_for(isa)) return nullptr;
  switch (isa) {
    case Isa::Scalar: return &q8_kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return &q8_kernels_avx2();
    case Isa::Avx512: return has_vnni() ? &q8_kernels_avx512vnni() : &q8_kernels_avx2();
#endif
#if defined(__aarch64__)
    case Isa::Neon: return has_dotprod() ? &q8_kernels_neondot() : &q8_kernels_neon();
#elif defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA)
    case Isa::Neon: return &q8_kernels_neon();
#endif
    default: return nullptr;
  }
}

int q8_variants(const Q8Kernels** out, int max) {
  const Q8Kernels* all[5] = {&q8_kernels_scalar()};
  int n = 1;
#if defined(__x86_64__) || defined(_M_X64)
  if (kernels_for(Isa::Avx2)) all[n++] = &q8_kernels_avx2();
  if (kernels_for(Isa::Avx512) && has_vnni()) all[n++] = &q8_kernels_avx512vnni();
#endif
#if defined(__aarch64__)
  all[n++] = &q8_kernels_neon();
  if (has_dotprod()) all[n++] = &q8_kernels_neondot();
#elif defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA)
  if (kernels_for(Isa::Neon)) all[n++] = &q8_kernels_neon();
#endif
  n = std::min(n, max);
  for (int i = 0; i < n; ++i) out[i] = all[i];
  return n;
}

const Q8Kernels& q8_kernels() {
  static const Q8Kernels* k = [] {
    const Q8Kernels* t = q8_kernels_for(active_isa());
    return t ? t : &q8_kernels_scalar();
  }();
  return *k;
}

size_t q8_packed_b_bytes(const Q8Kernels& kt, int64_t k, int64_t n) {
  const int64_t kp = (k + kt.kg - 1) / kt.kg * kt.kg;
  return static_cast<size_t>(q8_panels(kt, n) * kt.nr * kp) * (kt.wide ? 2 : 1);
}

size_t q8_packed_a_bytes(const Q8Kernels& kt, int64_t rows, int64_t k) {
  const int64_t kp = (k + kt.kg - 1) / kt.kg * kt.kg;
  return static_cast<size_t>(rows * kp) * (kt.wide ? 2 : 1);
}

void q8_pack_b(const Q8Kernels& kt, int64_t k, int64_t n, const int8_t* b, int64_t rs, int64_t cs, void* out,
               int32_t* colsum) {
  if (kt.wide) pack_b_impl(kt, k, n, b, rs, cs, static_cast<int16_t*>(out));
  else pack_b_impl(kt, k, n, b, rs, cs, static_cast<int8_t*>(out));
  if (colsum)
    for (int64_t j = 0; j < n; ++j) {
      int32_t s = 0;
      for (int64_t kk = 0; kk < k; ++kk) s += b[kk * rs + j * cs];
      colsum[j] = s;
    }
}

void q8_col_offsets(const Q8Kernels& kt, int64_t k, int64_t n, const int32_t* colsum, const int32_t* bias,
                    int64_t bias_stride, int32_t z_a, const int32_t* zb, int32_t* col_off) {
  // Unsigned: the identity holds modulo 2^32 (see q8.h).
  const uint32_t za = static_cast<uint32_t>(z_a) + (kt.a_u8 ? 128u : 0u);
  for (int64_t j = 0; j < n; ++j) {
    uint32_t v = bias ? static_cast<uint32_t>(bias[j * bias_stride]) : 0u;
    v -= za * static_cast<uint32_t>(colsum[j]);
    if (zb) v += static_cast<uint32_t>(k) * static_cast<uint32_t>(z_a) * static_cast<uint32_t>(zb[j]);
    col_off[j] = static_cast<int32_t>(v);
  }
}

size_t q8_gemm_scratch_bytes(const Q8Kernels& kt, int64_t rows, int64_t k) {
  return round_up(q8_packed_a_bytes(kt, rows, k), kAlign) + round_up(static_cast<size_t>(rows) * 4, kAlign);
}

void q8_gemm(const Q8Kernels& kt, int64_t rows, int64_t n, int64_t k, const int8_t* a, int64_t a_rs, int64_t a_cs,
             const void* bp, int64_t p0, int64_t p1, const Q8Cols& cols, int32_t z_y, int32_t lo, int32_t hi, int8_t* y,
             int64_t y_rs, int64_t y_cs, void* scratch) {
  if (rows <= 0 || p1 <= p0) return;
  const size_t esz = kt.wide ? 2 : 1;
  const int64_t kgroups = (k + kt.kg - 1) / kt.kg, kp = kgroups * kt.kg;
  uint8_t* apack = static_cast<uint8_t*>(scratch);
  int32_t* rowsum = reinterpret_cast<int32_t*>(apack + round_up(q8_packed_a_bytes(kt, rows, k), kAlign));
  pack_a(kt, rows, k, a, a_rs, a_cs, apack, cols.zb ? rowsum : nullptr);
  const size_t panel_bytes = static_cast<size_t>(kp * kt.nr) * esz;
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kBChunkBytes / panel_bytes));
  Q8Tile t;
  t.z_y = z_y;
  t.lo = lo;
  t.hi = hi;
  t.y_cs = y_cs;
  t.y_rs = y_rs;
  t.a_gstride = rows * kt.kg;
  t.a_rstride = kt.kg;
  for (int64_t c0 = p0; c0 < p1; c0 += chunk) {
    const int64_t c1 = std::min(p1, c0 + chunk);
    for (int64_t r0 = 0; r0 < rows; r0 += kt.mr) {
      t.rows = std::min<int64_t>(kt.mr, rows - r0);
      t.rowsum = rowsum + r0;
      const void* ap = apack + static_cast<size_t>(r0 * kt.kg) * esz;
      for (int64_t p = c0; p < c1; ++p) {
        const int64_t j0 = p * kt.nr;
        t.cols.col_off = cols.col_off + j0;
        t.cols.mult = cols.mult + j0;
        t.cols.rsh = cols.rsh + j0;
        t.cols.zb = cols.zb ? cols.zb + j0 : nullptr;
        t.cols_valid = std::min<int64_t>(kt.nr, n - j0);
        t.y = y + r0 * y_rs + j0 * y_cs;
        kt.tile(kgroups, ap, static_cast<const uint8_t*>(bp) + static_cast<size_t>(p) * panel_bytes, t);
      }
    }
  }
}

void q8_gemm_rows(const Q8Kernels& kt, int64_t rows, int64_t n, int64_t k, const uint8_t* a, int64_t a_rs, const void* bp,
                  int64_t p0, int64_t p1, const Q8Cols& cols, int32_t z_y, int32_t lo, int32_t hi, int8_t* y, int64_t y_rs,
                  int64_t y_cs, const int64_t* a_seg, int64_t a_seg_groups) {
  if (rows <= 0 || p1 <= p0 || !kt.rows_a || cols.zb || (a_seg && (!kt.seg_a || k % (a_seg_groups * kt.kg) != 0)))
    std::abort();  // callers check (q8.h)
  const int64_t kgroups = (k + kt.kg - 1) / kt.kg, kp = kgroups * kt.kg;
  const size_t panel_bytes = static_cast<size_t>(kp * kt.nr);
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kBChunkBytes / panel_bytes));
  Q8Tile t;
  t.z_y = z_y;
  t.lo = lo;
  t.hi = hi;
  t.y_cs = y_cs;
  t.y_rs = y_rs;
  t.a_gstride = kt.kg;
  t.a_rstride = a_rs;
  t.a_seg = a_seg;
  t.a_seg_groups = a_seg_groups;
  for (int64_t c0 = p0; c0 < p1; c0 += chunk) {
    const int64_t c1 = std::min(p1, c0 + chunk);
    for (int64_t r0 = 0; r0 < rows; r0 += kt.mr) {
      t.rows = std::min<int64_t>(kt.mr, rows - r0);
      const void* ap = a + r0 * a_rs;
      for (int64_t p = c0; p < c1; ++p) {
        const int64_t j0 = p * kt.nr;
        t.cols.col_off = cols.col_off + j0;
        t.cols.mult = cols.mult + j0;
        t.cols.rsh = cols.rsh + j0;
        t.cols.zb = nullptr;
        t.cols_valid = std::min<int64_t>(kt.nr, n - j0);
        t.y = y + r0 * y_rs + j0 * y_cs;
        kt.tile(kgroups, ap, static_cast<const uint8_t*>(bp) + static_cast<size_t>(p) * panel_bytes, t);
      }
    }
  }
}

}  // namespace tern::cpu::simd
