// Helpers shared by the data-movement reference kernels (Transpose, Slice, Expand, Tile, Pad,
// ConstantOfShape, Cast): dtype-agnostic strided copies, fills, and float16 encoding.
//
// Data movement never looks at values, only at element sizes, so every kernel built on these works
// for every dtype. Element copies go through memcpy of a fixed size, which compilers turn into
// plain loads and stores without breaking strict aliasing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/tensor.h"

namespace tern::ref {

// Largest rank a strided copy accepts: Tile views its output with two dims per input axis.
constexpr int kMaxCopyRank = 2 * kMaxRank;

namespace detail {

// Calls f(U{}) with an unsigned integer type of `elem` bytes (every dtype is 1, 2, 4 or 8 bytes).
template <typename F>
void with_elem_type(size_t elem, F&& f) {
  switch (elem) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

// Visits every index of the dims listed in `which` (row-major over that subset), calling
// f(dst_offset, src_offset) with byte offsets accumulated from the given strides.
template <typename F>
void for_each_outer(int m, const int* which, const int64_t* dims, const int64_t* ds, const int64_t* ss, F&& f) {
  int64_t idx[kMaxCopyRank] = {};
  int64_t doff = 0, soff = 0;
  for (;;) {
    f(doff, soff);
    int j = m - 1;
    for (; j >= 0; --j) {
      int d = which[j];
      doff += ds[d];
      soff += ss[d];
      if (++idx[j] < dims[d]) break;
      doff -= ds[d] * dims[d];
      soff -= ss[d] * dims[d];
      idx[j] = 0;
    }
    if (j < 0) return;
  }
}

}  // namespace detail

// dst[i] = src[i] for every multi-index i < dims, with byte strides for both sides. Source strides
// may be negative (reversed slices) or 0 (broadcast); destination strides must not overlap.
// Dims of size 1 are dropped and dims that stay adjacent on both sides are merged, so the inner
// loop is a memcpy of a contiguous run whenever the layout allows one. When the destination is
// contiguous along a dim the source is strided along (a transpose), the two dims are walked in
// square tiles so both sides stay in cache.
inline void strided_copy(int rank, const int64_t* dims_in, uint8_t* dst, const int64_t* ds_in, const uint8_t* src,
                         const int64_t* ss_in, size_t elem) {
  int64_t dims[kMaxCopyRank], ds[kMaxCopyRank], ss[kMaxCopyRank];
  int n = 0;
  for (int i = 0; i < rank; ++i) {
    if (dims_in[i] == 0) return;
    if (dims_in[i] == 1) continue;
    if (n > 0 && ds[n - 1] == ds_in[i] * dims_in[i] && ss[n - 1] == ss_in[i] * dims_in[i]) {
      dims[n - 1] *= dims_in[i];
      ds[n - 1] = ds_in[i];
      ss[n - 1] = ss_in[i];
      continue;
    }
    dims[n] = dims_in[i];
    ds[n] = ds_in[i];
    ss[n] = ss_in[i];
    ++n;
  }
  const int64_t e = static_cast<int64_t>(elem);
  if (n == 0) {
    std::memcpy(dst, src, elem);
    return;
  }
  int outer[kMaxCopyRank];
  int last = n - 1;
  if (ds[last] == e && ss[last] == e) {
    size_t run = static_cast<size_t>(dims[last]) * elem;
    for (int i = 0; i < last; ++i) outer[i] = i;
    detail::for_each_outer(last, outer, dims, ds, ss,
                           [&](int64_t d, int64_t s) { std::memcpy(dst + d, src + s, run); });
    return;
  }
  // A source-contiguous dim other than the last: tile it against the last (destination) dim.
  int k = -1;
  for (int i = 0; i < last; ++i)
    if (ss[i] == e && dims[i] >= 4 && dims[last] >= 4) k = i;
  int m = 0;
  for (int i = 0; i < last; ++i)
    if (i != k) outer[m++] = i;
  detail::with_elem_type(elem, [&](auto tag) {
    using U = decltype(tag);
    const int64_t n_last = dims[last], dl = ds[last], sl = ss[last];
    if (k < 0) {
      detail::for_each_outer(m, outer, dims, ds, ss, [&](int64_t d, int64_t s) {
        uint8_t* q = dst + d;
        const uint8_t* p = src + s;
        for (int64_t j = 0; j < n_last; ++j) std::memcpy(q + j * dl, p + j * sl, sizeof(U));
      });
      return;
    }
    constexpr int64_t kTile = 32;
    const int64_t n_k = dims[k], dk = ds[k];
    detail::for_each_outer(m, outer, dims, ds, ss, [&](int64_t d, int64_t s) {
      for (int64_t k0 = 0; k0 < n_k; k0 += kTile) {
        int64_t k1 = std::min(n_k, k0 + kTile);
        for (int64_t j0 = 0; j0 < n_last; j0 += kTile) {
          int64_t j1 = std::min(n_last, j0 + kTile);
          for (int64_t kk = k0; kk < k1; ++kk) {
            uint8_t* q = dst + d + kk * dk;
            const uint8_t* p = src + s + kk * e;
            for (int64_t j = j0; j < j1; ++j) std::memcpy(q + j * dl, p + j * sl, sizeof(U));
          }
        }
      }
    });
  });
}

// Fills n elements of `elem` bytes at dst with the element at `value`.
inline void fill_elements(uint8_t* dst, int64_t n, const uint8_t* value, size_t elem) {
  if (n <= 0) return;
  bool zero = true;
  for (size_t i = 0; i < elem; ++i) zero = zero && value[i] == 0;
  if (zero) {
    std::memset(dst, 0, static_cast<size_t>(n) * elem);
    return;
  }
  detail::with_elem_type(elem, [&](auto tag) {
    using U = decltype(tag);
    U v;
    std::memcpy(&v, value, sizeof(U));
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * static_cast<int64_t>(sizeof(U)), &v, sizeof(U));
  });
}

// IEEE binary16 <-> binary32, round to nearest even (no <stdfloat> needed).
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u : 0u));
  if (mag >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (mag < 0x38800000u) {                                                 // subnormal or zero in half
    if (mag < 0x33000000u) return static_cast<uint16_t>(sign);             // below half of the smallest
    uint32_t mant = (mag & 0x7fffffu) | 0x800000u;
    int shift = 126 - static_cast<int>(mag >> 23);                         // 14..24
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((mag - 0x38000000u) >> 13);
  uint32_t rem = mag & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while (!(mant & 0x400u));
    x = sign | ((112u - static_cast<uint32_t>(e)) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// Float to integer as C's conversion (truncation toward zero) where that is defined; values past
// the type's range saturate and NaN gives 0, so no input is undefined behaviour.
template <typename I, typename F>
I saturating_trunc(F f) {
  double v = static_cast<double>(f);
  if (v != v) return 0;
  constexpr double lo = static_cast<double>(std::numeric_limits<I>::lowest());
  constexpr double hi = static_cast<double>(std::numeric_limits<I>::max());
  if (v <= lo - 1.0) return std::numeric_limits<I>::lowest();
  if (v >= hi + 1.0) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}

// Writes `v` as one element of dtype t into out[0..dtype_size(t)). Integers truncate (saturating),
// bool is v != 0. Returns false for an invalid dtype.
inline bool encode_scalar(double v, DType t, uint8_t* out) {
  auto put = [&](auto x) { std::memcpy(out, &x, sizeof(x)); };
  switch (t) {
    case DType::Float32: put(static_cast<float>(v)); return true;
    case DType::Float16: put(float_to_half(static_cast<float>(v))); return true;
    case DType::Int8: put(saturating_trunc<int8_t>(v)); return true;
    case DType::UInt8: put(saturating_trunc<uint8_t>(v)); return true;
    case DType::Int16: put(saturating_trunc<int16_t>(v)); return true;
    case DType::Int32: put(saturating_trunc<int32_t>(v)); return true;
    case DType::Int64: put(saturating_trunc<int64_t>(v)); return true;
    case DType::Bool: put(static_cast<uint8_t>(v != 0)); return true;
  }
  return false;
}

}  // namespace tern::ref
