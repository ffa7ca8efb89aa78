// Shared pieces of the int8 micro-kernels (q8.h): the scalar epilogue and the dispatch of a tile to
// the micro-kernel instantiated for its row count. Include only from q8*.cpp.
#pragma once

#include <cstring>

#include "cpu/simd/q8.h"

namespace tern::cpu::simd::q8impl {

// Internal linkage: each micro-kernel TU has its own copy compiled with its own flags (a shared
// inline copy could be taken from a TU built for an ISA the CPU lacks).
namespace {

// Requantizes and stores a tile of raw products c[r * nr + j] (t.rows x nr).
inline void epilogue_scalar(const int32_t* c, int nr, const Q8Tile& t) {
  const Q8Cols& q = t.cols;
  for (int64_t r = 0; r < t.rows; ++r) {
    const int32_t rs = q.zb ? t.rowsum[r] : 0;
    int8_t* yr = t.y + r * t.y_rs;
    for (int64_t j = 0; j < t.cols_valid; ++j) {
      // Wrapping int32 arithmetic, as the reference's accumulation (modulo 2^32).
      uint32_t acc = static_cast<uint32_t>(c[r * nr + j]) + static_cast<uint32_t>(q.col_off[j]);
      if (q.zb) acc -= static_cast<uint32_t>(q.zb[j]) * static_cast<uint32_t>(rs);
      yr[j * t.y_cs] = q8_requantize(static_cast<int32_t>(acc), q.mult[j], q.rsh[j], t.z_y, t.lo, t.hi);
    }
  }
}

// The depthwise / pool tap over a row, compiled (and vectorized) once per ISA translation unit.
inline void mac_row(int32_t* acc, const int16_t* x, int64_t n, int64_t stride, int32_t w) {
  if (stride == 1) {
    const int16_t w16 = static_cast<int16_t>(w);  // |w| <= 255: exact, and a widening multiply
    for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<int32_t>(x[i]) * w16;
  } else {
    for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<int32_t>(x[i * stride]) * w;
  }
}

// The channels-last tap (q8.h mac_cols): the inner loop runs over contiguous channels.
inline void mac_cols(int32_t* acc, const int16_t* x, const int16_t* w, int64_t pixels, int64_t c, int64_t x_ps) {
  for (int64_t p = 0; p < pixels; ++p) {
    int32_t* a = acc + p * c;
    const int16_t* xp = x + p * x_ps;
    for (int64_t i = 0; i < c; ++i) a[i] += static_cast<int32_t>(xp[i]) * w[i];
  }
}

// The channels-last depthwise row (q8.h dw_row) over blocks of channels in a local accumulator
// (vectorized per ISA by the compiler); Requant is the TU's requant_cols.
template <void (*Requant)(const int32_t*, int8_t*, int64_t, int64_t, const int32_t*, const int32_t*, int32_t, int32_t, int32_t)>
inline void dw_row(const Q8DwRow& r) {
  constexpr int64_t kBlock = 64;
  alignas(64) int32_t acc[kBlock];
  for (int64_t p = 0; p < r.pixels; ++p)
    for (int64_t c0 = 0; c0 < r.c; c0 += kBlock) {
      const int64_t n = r.c - c0 < kBlock ? r.c - c0 : kBlock;
      for (int64_t i = 0; i < n; ++i) acc[i] = r.bias[c0 + i];
      for (int64_t a = 0; a < r.kh; ++a)
        for (int64_t b = 0; b < r.kw; ++b) {
          const int16_t* xp = r.x + a * r.x_rs + b * r.x_ts + p * r.x_ps + c0;
          const int16_t* wp = r.w + (a * r.kw + b) * r.c + c0;
          for (int64_t i = 0; i < n; ++i) acc[i] += static_cast<int32_t>(xp[i]) * wp[i];
        }
      Requant(acc, r.y + p * r.c + c0, 1, n, r.mult + c0, r.rsh + c0, r.z_y, r.lo, r.hi);
    }
}

// copy_u8 (q8.h) in 8-byte words, the last one overlapping; bytes below 8 one at a time.
inline void copy_u8(int8_t* d, const int8_t* s, int64_t n) {
  constexpr uint64_t kFlip = 0x8080808080808080ull;
  if (n < 8) {
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<int8_t>(s[i] ^ static_cast<int8_t>(0x80));
    return;
  }
  uint64_t w;
  for (int64_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&w, s + i, 8);
    w ^= kFlip;
    std::memcpy(d + i, &w, 8);
  }
  std::memcpy(&w, s + n - 8, 8);
  w ^= kFlip;
  std::memcpy(d + n - 8, &w, 8);
}

// Calls Kernel<R>::run for R = t.rows (1..MR).
template <template <int> class Kernel, int MR>
inline void by_rows(int64_t kgroups, const void* ap, const void* bp, const Q8Tile& t) {
  if constexpr (MR >= 1) {
    if (t.rows == MR) return Kernel<MR>::run(kgroups, ap, bp, t);
    if constexpr (MR > 1) by_rows<Kernel, MR - 1>(kgroups, ap, bp, t);
  }
}

}  // namespace

}  // namespace tern::cpu::simd::q8impl
