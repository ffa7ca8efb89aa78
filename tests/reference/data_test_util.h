// Helpers for the data-movement tests: tensors of any dtype with random bytes, byte-exact
// comparison with a message naming the op and the first differing element, and index arithmetic
// for the tests' direct (unravel -> map -> ravel) formulations.
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

// Every dtype, for tests of kernels that move elements without looking at them.
inline constexpr DType kAllDTypes[] = {DType::Float32, DType::Float16, DType::Int8, DType::UInt8,
                                       DType::Int16,   DType::Int32,   DType::Int64, DType::Bool};

// Random contents: arbitrary bytes (bool: 0 or 1), so every bit of every element is checked.
inline HostTensor random_tensor(std::mt19937& rng, DType t, Shape s) {
  HostTensor h(t, s);
  for (auto& b : h.bytes) b = static_cast<uint8_t>(t == DType::Bool ? rng() & 1u : rng());
  return h;
}

inline DType random_dtype(std::mt19937& rng) { return kAllDTypes[rng() % std::size(kAllDTypes)]; }

inline Shape random_shape(std::mt19937& rng, int rank, int64_t lo, int64_t hi) {
  Shape s;
  s.rank = rank;
  for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, lo, hi);
  return s;
}

template <typename T>
std::string list_str(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Row-major multi-index of flat index f in shape s.
inline void unravel(int64_t f, const Shape& s, int64_t* idx) {
  for (int d = s.rank - 1; d >= 0; --d) {
    idx[d] = s[d] ? f % s[d] : 0;
    f = s[d] ? f / s[d] : 0;
  }
}

inline int64_t ravel(const int64_t* idx, const Shape& s) {
  int64_t f = 0;
  for (int d = 0; d < s.rank; ++d) f = f * s[d] + idx[d];
  return f;
}

// Copies element `from` of src into element `to` of dst (same dtype).
inline void copy_element(const HostTensor& src, int64_t from, HostTensor& dst, int64_t to) {
  size_t e = dtype_size(src.dtype);
  std::memcpy(dst.bytes.data() + static_cast<size_t>(to) * e, src.bytes.data() + static_cast<size_t>(from) * e, e);
}

// Byte-exact equality (dtype, shape and every element's bytes); the message names `what` and the
// first element that differs.
inline void check_bytes(const HostTensor& got, const HostTensor& want, const std::string& what) {
  INFO(what);
  REQUIRE_MESSAGE(got.dtype == want.dtype, "dtype ", dtype_name(got.dtype), " vs expected ", dtype_name(want.dtype));
  REQUIRE_MESSAGE(got.shape == want.shape, "shape ", got.shape.str(), " vs expected ", want.shape.str());
  REQUIRE(got.bytes.size() == want.bytes.size());
  size_t e = dtype_size(got.dtype);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < got.numel(); ++i)
    if (std::memcmp(got.bytes.data() + i * e, want.bytes.data() + i * e, e) != 0) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad) {
    auto hex = [&](const HostTensor& t) {
      std::string s = "0x";
      char buf[3];
      for (size_t b = e; b-- > 0;) {
        std::snprintf(buf, sizeof buf, "%02x", t.bytes[static_cast<size_t>(first) * e + b]);
        s += buf;
      }
      return s;
    };
    int64_t idx[kMaxRank];
    unravel(first, got.shape, idx);
    std::string at = "[";
    for (int d = 0; d < got.shape.rank; ++d) at += (d ? "," : "") + std::to_string(idx[d]);
    FAIL_CHECK(bad, " of ", got.numel(), " ", dtype_name(got.dtype), " elements differ; first at ", at, "]: got ", hex(got),
               ", expected ", hex(want));
  }
}

}  // namespace tern::test
