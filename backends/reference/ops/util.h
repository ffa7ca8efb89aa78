// Helpers shared by the reference kernels: dtype dispatch and broadcast iteration.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

// Calls f(T{}) with T the C++ type of `t` for the numeric dtypes the reference backend computes in
// (float32, int32, int64, int8, uint8, int16); returns false for other dtypes.
template <typename F>
bool dispatch_numeric(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); return true;
    case DType::Int32: f(int32_t{}); return true;
    case DType::Int64: f(int64_t{}); return true;
    case DType::Int8: f(int8_t{}); return true;
    case DType::UInt8: f(uint8_t{}); return true;
    case DType::Int16: f(int16_t{}); return true;
    default: return false;
  }
}

// Strides (in elements) of `in` seen through broadcasting to `out`'s rank: 0 on broadcast axes.
inline void broadcast_strides(const Shape& in, const Shape& out, int64_t* strides) {
  int64_t s = 1;
  for (int i = out.rank - 1; i >= 0; --i) {
    int j = in.rank - out.rank + i;
    int64_t d = j >= 0 ? in.dims[j] : 1;
    strides[i] = (d == 1) ? 0 : s;
    s *= d;
  }
}

// Iterates every element of `out` in row-major order, keeping the flat offsets into up to four
// broadcast inputs. f(out_index, off0, off1, off2), or f(out_index, off0, off1, off2, off3) for N = 4.
template <int N, typename F>
void for_each_broadcast(const Shape& out, const Shape* const* ins, F&& f) {
  int64_t strides[N][kMaxRank];
  for (int k = 0; k < N; ++k) broadcast_strides(*ins[k], out, strides[k]);
  int64_t total = out.numel();
  if (total == 0) return;
  int64_t idx[kMaxRank] = {};
  int64_t off[N] = {};
  int r = out.rank;
  for (int64_t o = 0; o < total; ++o) {
    if constexpr (N == 1) f(o, off[0], 0, 0);
    if constexpr (N == 2) f(o, off[0], off[1], 0);
    if constexpr (N == 3) f(o, off[0], off[1], off[2]);
    if constexpr (N == 4) f(o, off[0], off[1], off[2], off[3]);
    for (int d = r - 1; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < out.dims[d]) break;
      for (int k = 0; k < N; ++k) off[k] -= strides[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

// The leading (batch) dims of a [..., rows, cols] shape: what MatMul-like ops (Attention's Q, K,
// V and output) broadcast against each other.
inline Shape batch_dims(const Shape& s) {
  Shape b;
  b.rank = s.rank >= 2 ? s.rank - 2 : 0;
  for (int i = 0; i < b.rank; ++i) b[i] = s[i];
  return b;
}

// MatMul's numpy semantics split into matrix and batch parts: A [..., m, k] @ B [..., k, n]
// (a rank-1 A is one row, a rank-1 B one column); `batch` is the broadcast of the two batch shapes
// (taken from the output, whose leading dims it is).
struct MatMulDims {
  int64_t m = 0, k = 0, n = 0;
  Shape batch_a, batch_b, batch;
};
inline MatMulDims matmul_dims(const Shape& sa, const Shape& sb, const Shape& sy) {
  MatMulDims d;
  const bool a_vec = sa.rank == 1, b_vec = sb.rank == 1;
  d.m = a_vec ? 1 : sa[sa.rank - 2];
  d.k = sa[sa.rank - 1];
  d.n = b_vec ? 1 : sb[sb.rank - 1];
  d.batch_a.rank = a_vec ? 0 : sa.rank - 2;
  d.batch_b.rank = b_vec ? 0 : sb.rank - 2;
  for (int i = 0; i < d.batch_a.rank; ++i) d.batch_a[i] = sa[i];
  for (int i = 0; i < d.batch_b.rank; ++i) d.batch_b[i] = sb[i];
  d.batch.rank = std::max(d.batch_a.rank, d.batch_b.rank);
  for (int i = 0; i < d.batch.rank; ++i) d.batch[i] = sy[i];
  return d;
}

}  // namespace tern::ref
