// Unary elementwise ops. Float ops compute in float32 with the C library's functions; Relu, Neg,
// Abs, Sign and Clip also take every integer dtype; Not takes bool.
//
// Each op gets its own loop (the switch is outside it) so the compiler can vectorize the simple
// ones. Input and output may be the same buffer: every loop reads x[i] before writing y[i].
#include <cmath>
#include <limits>
#include <type_traits>

#include "reference/kernel.h"
#include "reference/ops/util.h"

namespace tern::ref {

namespace {

template <typename T, typename F>
void map(const T* x, T* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// Round half to even without depending on the floating-point environment's rounding mode.
inline float round_half_even(float v) {
  float r = std::floor(v);
  float d = v - r;
  if (d > 0.5f || (d == 0.5f && std::fmod(r, 2.0f) != 0.0f)) r += 1.0f;
  return r;
}

// Sigmoid and Softplus in forms that neither overflow nor lose the small tail.
inline float sigmoid(float v) {
  if (v >= 0) return 1.0f / (1.0f + std::exp(-v));
  float e = std::exp(v);
  return e / (1.0f + e);
}
inline float softplus(float v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }

// Clamps with numpy's clip semantics: NaN passes through, and min > max gives max.
template <typename T>
inline T clamp(T v, T lo, T hi) {
  T r = v < lo ? lo : v;
  return r > hi ? hi : r;
}

// Clip's float bounds as T's bounds: an infinite or out-of-range bound is T's own limit, and a
// fractional one moves inward (min up, max down), which clamps integers exactly as a real bound.
template <typename T>
T int_bound(float b, bool is_min) {
  double v = is_min ? std::ceil(static_cast<double>(b)) : std::floor(static_cast<double>(b));
  constexpr T kLo = std::numeric_limits<T>::lowest(), kHi = std::numeric_limits<T>::max();
  if (v != v) return is_min ? kLo : kHi;  // a NaN bound bounds nothing
  if (v <= static_cast<double>(kLo)) return kLo;
  if (v >= static_cast<double>(kHi)) return kHi;
  return static_cast<T>(v);
}

// Integer Neg/Abs wrap at the most negative value (as two's complement hardware and numpy do)
// instead of overflowing, which would be undefined behaviour in C++.
template <typename T>
inline T wrap_neg(T v) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(U(0) - static_cast<U>(v)));
}

template <typename T>
Status unary_integer(const KernelContext& ctx, const T* x, T* y, int64_t n) {
  switch (ctx.op) {
    case OpType::Relu: map(x, y, n, [](T v) { return v < T(0) ? T(0) : v; }); break;
    case OpType::Neg:
      if constexpr (std::is_signed_v<T>) map(x, y, n, [](T v) { return wrap_neg(v); });
      else map(x, y, n, [](T v) { return static_cast<T>(-v); });
      break;
    case OpType::Abs:
      if constexpr (std::is_signed_v<T>) map(x, y, n, [](T v) { return v < 0 ? wrap_neg(v) : v; });
      else map(x, y, n, [](T v) { return v; });
      break;
    case OpType::Sign: map(x, y, n, [](T v) { return static_cast<T>(v > T(0) ? 1 : (v < T(0) ? -1 : 0)); }); break;
    case OpType::Clip: {
      const auto& o = ctx.opts<fb::ClipOptionsT>();
      T lo = int_bound<T>(o.min, true), hi = int_bound<T>(o.max, false);
      map(x, y, n, [=](T v) { return clamp(v, lo, hi); });
      break;
    }
    default: return ctx.unsupported("integer input (%s)", dtype_name(ctx.in(0)->dtype));
  }
  return Status::ok();
}

Status unary_float(const KernelContext& ctx, const float* x, float* y, int64_t n) {
  switch (ctx.op) {
    case OpType::Relu: map(x, y, n, [](float v) { return v < 0 ? 0.0f : v; }); break;
    case OpType::Clip: {
      const auto& o = ctx.opts<fb::ClipOptionsT>();
      float lo = o.min, hi = o.max;
      map(x, y, n, [=](float v) { return clamp(v, lo, hi); });
      break;
    }
    case OpType::Sigmoid: map(x, y, n, sigmoid); break;
    case OpType::HardSigmoid: {
      const auto& o = ctx.opts<fb::AlphaBetaOptionsT>();
      float a = o.alpha, b = o.beta;
      map(x, y, n, [=](float v) { return clamp(a * v + b, 0.0f, 1.0f); });
      break;
    }
    case OpType::HardSwish:
      map(x, y, n, [](float v) { return v * clamp(v * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f); });
      break;
    case OpType::Tanh: map(x, y, n, [](float v) { return std::tanh(v); }); break;
    case OpType::Erf: map(x, y, n, [](float v) { return std::erf(v); }); break;
    case OpType::Exp: map(x, y, n, [](float v) { return std::exp(v); }); break;
    case OpType::Log: map(x, y, n, [](float v) { return std::log(v); }); break;
    case OpType::Sqrt: map(x, y, n, [](float v) { return std::sqrt(v); }); break;
    case OpType::Neg: map(x, y, n, [](float v) { return -v; }); break;
    case OpType::Abs: map(x, y, n, [](float v) { return std::fabs(v); }); break;
    case OpType::Softplus: map(x, y, n, softplus); break;
    case OpType::Reciprocal: map(x, y, n, [](float v) { return 1.0f / v; }); break;
    case OpType::LeakyRelu: {
      float a = ctx.opts<fb::AlphaBetaOptionsT>().alpha;
      map(x, y, n, [=](float v) { return v < 0 ? a * v : v; });
      break;
    }
    case OpType::Elu: {
      float a = ctx.opts<fb::AlphaBetaOptionsT>().alpha;
      map(x, y, n, [=](float v) { return v < 0 ? a * std::expm1(v) : v; });
      break;
    }
    case OpType::Floor: map(x, y, n, [](float v) { return std::floor(v); }); break;
    case OpType::Ceil: map(x, y, n, [](float v) { return std::ceil(v); }); break;
    case OpType::Round: map(x, y, n, round_half_even); break;
    case OpType::Sin: map(x, y, n, [](float v) { return std::sin(v); }); break;
    case OpType::Cos: map(x, y, n, [](float v) { return std::cos(v); }); break;
    // Sign keeps zeros and NaN as they are (numpy's sign).
    case OpType::Sign: map(x, y, n, [](float v) { return v > 0 ? 1.0f : (v < 0 ? -1.0f : v); }); break;
    default: return ctx.unsupported("float32 input");
  }
  return Status::ok();
}

}  // namespace

Status unary(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  int64_t n = x.numel();
  if (ctx.op == OpType::Not) {
    if (x.dtype != DType::Bool) return ctx.unsupported("input is %s; Not takes bool", dtype_name(x.dtype));
    map(x.as<uint8_t>(), y->as<uint8_t>(), n, [](uint8_t v) { return static_cast<uint8_t>(v == 0); });
    return Status::ok();
  }
  if (x.dtype == DType::Float32) return unary_float(ctx, x.as<float>(), y->as<float>(), n);
  Status st;  // OK; only an error allocates
  bool handled = dispatch_numeric(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) st = unary_integer<T>(ctx, x.as<T>(), y->as<T>(), n);
  });
  if (!handled) return ctx.unsupported("input is %s; the reference kernel takes float32 or an integer type", dtype_name(x.dtype));
  return st;
}

}  // namespace tern::ref
