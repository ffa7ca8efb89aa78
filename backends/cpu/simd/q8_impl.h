// Shared pieces of the int8 micro-kernels (q8.h): the scalar epilogue and the dispatch of a tile to
// the micro-kernel instantiated for its row count. Include only from q8*.cpp.
#pragma once

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
