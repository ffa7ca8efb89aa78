// Tern's int8 GEMM micro-kernels (docs/quantization-scheme.md), bit-exact with the reference
// kernels (backends/reference/ops/gemm_q8.cpp, conv_q8.cpp): the same int32 accumulator, the same
// requantization (runtime/core/quant.h), only computed faster.
//
//   C[i, j] = sum_k A[i, k] B[k, j]                    (int8 x int8, exact in int32)
//   acc     = C + col_off[j] - zb[j] * rowsum(A)[i]     (= bias + sum (a - z_a)(b - z_b), see below)
//   y       = saturate(round_half_away(acc * mult[j] / 2^(rsh[j] + 1)) + z_y) within [lo, hi]
//
// with col_off[j] = bias[j] - z_a colsum(B)[j] + k z_a zb[j] folded once per B (at prepare for
// weights). All int32 arithmetic wraps, so the identity holds modulo 2^32 exactly as the
// reference's direct sum does. A is the activation (rows: GEMM rows, or conv output pixels), B the
// weights (columns: output channels), packed once.
//
// Variants (one table per ISA, each micro-kernel in its own translation unit compiled with its
// flags; selection follows the f32 table's ISA, isa.h, so TERN_CPU_ISA forces both):
//   avx512 (VNNI): vpdpbusd multiplies u8 x s8, so A is packed as a + 128 (xor 0x80) and
//     128 colsum(B) is folded into col_off as well. Tile 12x16, k in groups of 4 bytes.
//     Without VNNI the AVX-512 choice falls back to the AVX2 table.
//   avx2: sign-extended to int16 at pack time, _mm256_madd_epi16 (exact: pairs of int16
//     products into int32). Tile 4x16, k in pairs.
//   neon (AArch64): SDOT (vdotq_laneq_s32) when the CPU has the dot-product extension, else
//     vmull_s8 + vpadalq_s16 widening; tile 8x8 resp. 4x8, k in groups of 4.
//   scalar: tile 4x4, k in groups of 4.
//
// Packed layouts: B in panels of nr columns, each [kp / kg][nr][kg] elements; A, a block of rows
// at once, [kp / kg][rows][kg] (a tile reads its rows at a group stride of rows * kg; packing a
// whole block keeps the transposing pack of a conv's [k, pixels] matrix a streaming loop).
// kp = k rounded up to kg; padding is zero in both, so it adds nothing.
//
// Thread safety: tables are immutable after first use; every function is reentrant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/simd/isa.h"

namespace tern::cpu::simd {

// The per-column requantization parameters of one B (length: panels * nr, zero-padded).
struct Q8Cols {
  const int32_t* col_off = nullptr;
  const int32_t* mult = nullptr;  // Q31 multiplier (quant::Multiplier::mult)
  const int32_t* rsh = nullptr;   // 30 + quant::Multiplier::shift: the rounding shift minus 1, in [0, 61]
  const int32_t* zb = nullptr;    // zero points of B per column; null when all are 0
};

// One output tile for a micro-kernel: parameters point at the tile's first column / row.
struct Q8Tile {
  Q8Cols cols;
  const int32_t* rowsum = nullptr;  // sum of A per row (read only when cols.zb)
  int32_t z_y = 0, lo = -128, hi = 127;
  int8_t* y = nullptr;  // element (r, c) at y[r * y_rs + c * y_cs]
  int64_t y_rs = 0, y_cs = 1;
  int64_t rows = 0, cols_valid = 0;  // rows <= mr, cols_valid <= nr
  int64_t a_gstride = 0;             // packed A elements from one k group to the next
  int64_t a_rstride = 0;             // A elements from one row to the next (packed A: kg)
  // Segmented row-major A (Q8Kernels::seg_a; an implicit-GEMM conv reading the image itself): the
  // k groups come in segments of a_seg_groups, segment s at a_seg[s] elements from the row's start
  // (kernel rows or taps of the receptive field). Null: one run of a_gstride-spaced groups.
  const int64_t* a_seg = nullptr;
  int64_t a_seg_groups = 0;
};

// One output row of a channels-last depthwise conv (q8.h dw_row): for output pixel p < pixels and
// channel i < c, acc = bias[i] + sum over taps (a, b) < (kh, kw) of
// x[a * x_rs + b * x_ts + p * x_ps + i] * w[(a * kw + b) * c + i], then y[p * c + i] =
// requantize(acc) with channel i's multiplier. x is int16 x - z_x with the padding as 0.
struct Q8DwRow {
  const int16_t* x = nullptr;
  int64_t x_rs = 0, x_ts = 0, x_ps = 0;  // elements from one kernel row / kernel column / output pixel to the next
  const int16_t* w = nullptr;            // [kh * kw][c]
  int64_t kh = 1, kw = 1;
  const int32_t* bias = nullptr;         // c values (zeros without a bias)
  const int32_t* mult = nullptr;
  const int32_t* rsh = nullptr;
  int32_t z_y = 0, lo = -128, hi = 127;
  int64_t pixels = 0, c = 0;
  int8_t* y = nullptr;
};

// ref::BinaryQ8 as integers. Add / Sub: acc = A(a) +- B(b), A(a) = multiply_by_multiplier((a - z_a)
// 2^20, ma) (the reference's rescaled operand; mult_a = ma.mult, rsh_a = 30 + ma.shift), B likewise;
// Mul: acc = (a - z_a)(b - z_b). Then y = requantize(acc, (mult, rsh = 30 + shift), z_y).
struct Q8BinaryRow {
  enum Op : int32_t { kAdd, kSub, kMul } op = kAdd;
  int32_t z_a = 0, z_b = 0, mult_a = 0, rsh_a = 0, mult_b = 0, rsh_b = 0, mult = 0, rsh = 0, z_y = 0;
};

struct Q8Kernels {
  Isa isa;
  const char* name;  // e.g. "gemm_q8_12x16__avx512vnni"
  int mr, nr, kg;    // tile rows, tile columns, k elements per group
  bool wide;         // packed elements are int16 (else int8)
  bool a_u8;         // A is packed as a + 128 (u8) and col_off carries -128 colsum(B)
  // The tile reads A through Q8Tile::a_rstride, so it also takes row-major A (q8_gemm_rows): every
  // int8-element table (kg 4); not AVX2's int16 one.
  bool rows_a;
  // The tile: C of tile.rows x nr from a packed A panel (tile.rows rows) and one B panel, over
  // kgroups groups of kg; requantized and stored (tile.cols_valid columns).
  void (*tile)(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& tile);
  // QuantizeLinear / DequantizeLinear per tensor, exactly quant::quantize_value (x / scale rounded
  // half to even, NaN to the zero point) and quant::dequantize_value.
  void (*quantize)(const float* x, int8_t* y, int64_t n, float scale, int32_t zero_point);
  void (*dequantize)(const int8_t* x, float* y, int64_t n, float scale, int32_t zero_point);
  // y[i] = quant::requantize(acc[i]) with one multiplier (a depthwise conv's output row).
  void (*requant_row)(const int32_t* acc, int8_t* y, int64_t n, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo,
                      int32_t hi);
  // acc[i] += x[i * stride] * w over n outputs (a depthwise conv's or a pool's tap; int16 x).
  void (*mac_row)(int32_t* acc, const int16_t* x, int64_t n, int64_t stride, int32_t w);
  // Channels-last rows (pixels x c, channels contiguous): a depthwise conv's or a pool's tap,
  // acc[p * c + i] += x[p * x_ps + i] * w[i] (int16 x and w, int32 acc) for p < pixels, i < c.
  void (*mac_cols)(int32_t* acc, const int16_t* x, const int16_t* w, int64_t pixels, int64_t c, int64_t x_ps);
  // y[p * c + i] = quant::requantize(acc[p * c + i]) with channel i's multiplier (mult[i], rsh[i]).
  void (*requant_cols)(const int32_t* acc, int8_t* y, int64_t pixels, int64_t c, const int32_t* mult,
                       const int32_t* rsh, int32_t z_y, int32_t lo, int32_t hi);
  // A channels-last depthwise output row (Q8DwRow), the accumulators kept in registers over the taps.
  void (*dw_row)(const Q8DwRow& r);
  // d[i] = s[i] ^ 0x80 (int8 -> the u8 form of A that a_u8 tables read), n bytes: the im2col runs.
  void (*copy_u8)(int8_t* d, const int8_t* s, int64_t n);
  // int8 Attention (reference/ops/attention_q8.h; cpu/ops/q8_attention.cpp). Tables without their
  // own take the portable q8_att_*_scalar below (every variant is bit-exact by construction:
  // integer sums and single IEEE operations).
  // att_gemm: c[i * ldc + j] = sum_{p < kpairs} a[i * lda + 2p] b[(p n + j) 2] + a[i * lda + 2p + 1]
  // b[(p n + j) 2 + 1] for i < m (a multiple of kAttRows), j < n (a multiple of kAttCols): int16
  // operands (|b| <= 255; |a| <= 255 for Q K^T, 0..32767 for P V), int32 sums that the callers keep
  // exact (Q K^T and P V, B packed in pairs of k).
  void (*att_gemm)(int64_t m, int64_t n, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b, int32_t* c,
                   int64_t ldc);
  // One softmax row, attq8::softmax_row: scores s[0..n) -> probabilities p[0..n) in 0..32767; e holds
  // n int32 of working space.
  void (*att_softmax)(const int32_t* s, int64_t n, float c256, int32_t* e, int16_t* p);
  // Optional (null: Q K^T runs on att_gemm): Q K^T on bytes, u8 x s8 in groups of 4 (VNNI vpdpbusd),
  // c[i * ldc + j] = col[j] + sum_{g < kquads, u < 4} a[i * lda + 4g + u] b[(g n + j) 4 + u], i < m (a
  // multiple of kAttRows), j < n (a multiple of kAttCols). With a = q + 128 and b = k, and col[j] =
  // -(128 + z_q) sum_t k_jt, c differs from the exact S_ij by a term constant along the row
  // (-z_k sum_t (q_it - z_q)), which the softmax's d_ij = max_j S_ij - S_ij cancels exactly.
  void (*att_qk_u8)(int64_t m, int64_t n, int64_t kquads, const uint8_t* a, int64_t lda, const int8_t* b,
                    const int32_t* col, int32_t* c, int64_t ldc);
  // Optional (null: the caller's portable loop): an int8 Add / Sub / Mul row, ref::BinaryQ8 exactly,
  // y[i] over n outputs from a[i * sa], b[i * sb] (steps 0 or 1); see Q8BinaryRow.
  void (*binary_row)(const int8_t* a, int64_t sa, const int8_t* b, int64_t sb, int8_t* y, int64_t n, const Q8BinaryRow& p);
  bool seg_a;  // the tile honours Q8Tile::a_seg (q8_gemm_rows with segments)
};
constexpr int64_t kAttRows = 8, kAttCols = 16;  // att_gemm's granularity (rows, columns)
void q8_att_gemm_scalar(int64_t m, int64_t n, int64_t kpairs, const int16_t* a, int64_t lda, const int16_t* b, int32_t* c,
                        int64_t ldc);
void q8_att_softmax_scalar(const int32_t* s, int64_t n, float c256, int32_t* e, int16_t* p);

// The portable quantize / dequantize rows (the scalar and NEON tables use them; the x86 ones fall
// back to them for tails).
void q8_quantize_scalar(const float* x, int8_t* y, int64_t n, float scale, int32_t zero_point);
void q8_dequantize_scalar(const int8_t* x, float* y, int64_t n, float scale, int32_t zero_point);
void q8_requant_row_scalar(const int32_t* acc, int8_t* y, int64_t n, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo,
                           int32_t hi);
void q8_requant_cols_scalar(const int32_t* acc, int8_t* y, int64_t pixels, int64_t c, const int32_t* mult,
                            const int32_t* rsh, int32_t z_y, int32_t lo, int32_t hi);

// The table for the active ISA (active_isa(); AVX-512 without VNNI uses the AVX2 one).
const Q8Kernels& q8_kernels();
// The table an ISA variant uses on this machine, or nullptr if the build or CPU lacks it.
const Q8Kernels* q8_kernels_for(Isa isa);

// Every variant this build and CPU can run (for tests): writes up to `max` tables, returns the count.
int q8_variants(const Q8Kernels** out, int max);

// Bytes of a packed [k, n] B; bytes of packed A for `rows` rows (panels of mr).
size_t q8_packed_b_bytes(const Q8Kernels& kt, int64_t k, int64_t n);
size_t q8_packed_a_bytes(const Q8Kernels& kt, int64_t rows, int64_t k);
inline int64_t q8_panels(const Q8Kernels& kt, int64_t n) { return (n + kt.nr - 1) / kt.nr; }
// Packs B (element (kk, j) at b[kk * rs + j * cs]) and writes colsum[j] = sum_kk B[kk, j] (n values).
void q8_pack_b(const Q8Kernels& kt, int64_t k, int64_t n, const int8_t* b, int64_t rs, int64_t cs, void* out,
               int32_t* colsum);
// The per-column offset (see the top): bias may be null, zb null means 0.
void q8_col_offsets(const Q8Kernels& kt, int64_t k, int64_t n, const int32_t* colsum, const int32_t* bias,
                    int64_t bias_stride, int32_t z_a, const int32_t* zb, int32_t* col_off);

// Y[rows, panels p0..p1) for A rows (row i, element kk at a[i * a_rs + kk * a_cs]) and packed B.
// `scratch` holds q8_gemm_scratch_bytes(kt, rows, k) bytes (the packed A block and its row sums).
// Columns of panel p start at p * nr; `cols` covers all panels; y points at element (0, 0).
size_t q8_gemm_scratch_bytes(const Q8Kernels& kt, int64_t rows, int64_t k);
void q8_gemm(const Q8Kernels& kt, int64_t rows, int64_t n, int64_t k, const int8_t* a, int64_t a_rs, int64_t a_cs,
             const void* bp, int64_t p0, int64_t p1, const Q8Cols& cols, int32_t z_y, int32_t lo, int32_t hi, int8_t* y,
             int64_t y_rs, int64_t y_cs, void* scratch);

// The same product for row-major A already in the table's element form (a + 128 where a_u8), row
// i at a + i * a_rs with kp = k rounded up to kg bytes readable (the bytes past k are multiplied by
// B's zero padding); no packing, no row sums: only for tables with rows_a and B without zero points.
// With a_seg (tables with seg_a only): A row i's k bytes are segments of a_seg_groups kg-byte groups
// at a + i * a_rs + a_seg[s] (k = segments x a_seg_groups x kg exactly).
void q8_gemm_rows(const Q8Kernels& kt, int64_t rows, int64_t n, int64_t k, const uint8_t* a, int64_t a_rs, const void* bp,
                  int64_t p0, int64_t p1, const Q8Cols& cols, int32_t z_y, int32_t lo, int32_t hi, int8_t* y, int64_t y_rs,
                  int64_t y_cs, const int64_t* a_seg = nullptr, int64_t a_seg_groups = 0);

// quant::requantize with the multiplier split as above (inline for the scalar epilogues).
inline int8_t q8_requantize(int32_t acc, int32_t mult, int32_t rsh, int32_t z_y, int32_t lo, int32_t hi) {
  const int64_t prod = static_cast<int64_t>(acc) * mult;
  // round_half_away(p / 2^(rsh+1)) on |p|: (|p| + 2^rsh) >> (rsh + 1) == ((|p| >> rsh) + 1) >> 1.
  const uint64_t mag = ((static_cast<uint64_t>(prod < 0 ? -prod : prod) >> rsh) + 1) >> 1;
  int64_t v = (prod < 0 ? -static_cast<int64_t>(mag) : static_cast<int64_t>(mag)) + z_y;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<int8_t>(v);
}

// Per-ISA tables (q8_<isa>.cpp), only those compiled in.
const Q8Kernels& q8_kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
const Q8Kernels& q8_kernels_avx2();
const Q8Kernels& q8_kernels_avx512vnni();
#endif
#if defined(__aarch64__)
const Q8Kernels& q8_kernels_neon();
const Q8Kernels& q8_kernels_neondot();
#elif defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA)
const Q8Kernels& q8_kernels_neon();  // armv7 NEON-VFPv4 (the armhf toolchain's baseline)
#endif

}  // namespace tern::cpu::simd
