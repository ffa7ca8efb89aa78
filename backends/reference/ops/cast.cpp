// Cast between float32, float16, int8, uint8, int16, int32, int64 and bool, every pair.
//
// Rules (numpy's astype where it is defined): float -> integer truncates toward zero; values
// beyond the target's range saturate and NaN gives 0 (C leaves those undefined; numpy's result
// depends on the machine); integer -> narrower integer wraps modulo 2^bits; anything -> bool is
// x != 0 (NaN is true); bool -> number is 0 or 1; float16 converts through float32 with round to
// nearest even.
#include <cstring>
#include <type_traits>

#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

namespace {

// Storage tags for the two dtypes whose C++ storage type does not say what they are.
struct Bool8 {
  uint8_t v;
};
struct Half16 {
  uint16_t v;
};

template <typename F>
bool dispatch_cast(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); return true;
    case DType::Float16: f(Half16{}); return true;
    case DType::Int8: f(int8_t{}); return true;
    case DType::UInt8: f(uint8_t{}); return true;
    case DType::Int16: f(int16_t{}); return true;
    case DType::Int32: f(int32_t{}); return true;
    case DType::Int64: f(int64_t{}); return true;
    case DType::Bool: f(Bool8{}); return true;
  }
  return false;
}

// The arithmetic value of a stored element.
template <typename S> auto load(S s) { return s; }
inline uint8_t load(Bool8 s) { return s.v != 0; }
inline float load(Half16 s) { return half_to_float(s.v); }

template <typename D, typename A>
D store(A a) {
  if constexpr (std::is_same_v<D, Bool8>) return D{static_cast<uint8_t>(a != A(0))};
  else if constexpr (std::is_same_v<D, Half16>) return D{float_to_half(static_cast<float>(a))};
  else if constexpr (std::is_floating_point_v<D>) return static_cast<D>(a);
  else if constexpr (std::is_floating_point_v<A>) return saturating_trunc<D>(a);
  else return static_cast<D>(a);  // integer -> integer: modular since C++20
}

template <typename S, typename D>
void cast_loop(const uint8_t* x, uint8_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    S s;
    std::memcpy(&s, x + i * static_cast<int64_t>(sizeof(S)), sizeof(S));
    D d = store<D>(load(s));
    std::memcpy(y + i * static_cast<int64_t>(sizeof(D)), &d, sizeof(D));
  }
}

}  // namespace

Status cast(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype == y->dtype && x.dtype != DType::Bool) {
    if (y->data != x.data) std::memmove(y->data, x.data, x.bytes());
    return Status::ok();
  }
  const uint8_t* px = x.as<const uint8_t>();
  uint8_t* py = y->as<uint8_t>();
  const int64_t n = x.numel();
  bool ok = false;
  dispatch_cast(x.dtype, [&](auto s) {
    ok = dispatch_cast(y->dtype, [&](auto d) { cast_loop<decltype(s), decltype(d)>(px, py, n); });
  });
  if (!ok) return ctx.unsupported("cast from %s to %s", dtype_name(x.dtype), dtype_name(y->dtype));
  return Status::ok();
}

}  // namespace tern::ref
