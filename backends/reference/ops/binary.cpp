// Binary elementwise ops with numpy broadcasting, and PRelu.
#include <cmath>

#include "ops/op_defs.h"
#include "reference/ops/util.h"

namespace tern::ref {

namespace {

template <typename T>
T apply_arith(OpType op, T a, T b) {
  switch (op) {
    case OpType::Add: return a + b;
    case OpType::Sub: return a - b;
    case OpType::Mul: return a * b;
    case OpType::Div:
      if constexpr (std::is_integral_v<T>) return b == 0 ? T(0) : static_cast<T>(a / b);  // ONNX: undefined; we give 0
      else return a / b;
    case OpType::Min: return a < b ? a : b;
    case OpType::Max: return a > b ? a : b;
    default: return T(0);
  }
}

template <typename T>
bool apply_compare(OpType op, T a, T b) {
  switch (op) {
    case OpType::Equal: return a == b;
    case OpType::Less: return a < b;
    case OpType::Greater: return a > b;
    case OpType::LessOrEqual: return a <= b;
    case OpType::GreaterOrEqual: return a >= b;
    default: return false;
  }
}

template <typename T>
double as_double(const TensorRef& t, int64_t i) { return static_cast<double>(static_cast<const T*>(t.data)[i]); }

double read_double(const TensorRef& t, int64_t i) {
  double v = 0;
  dispatch_numeric(t.dtype, [&](auto tag) { v = as_double<decltype(tag)>(t, i); });
  return v;
}

}  // namespace

Status binary(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const Shape* ins[2] = {&a.shape, &b.shape};
  OpType op = ctx.op;

  if (op == OpType::And || op == OpType::Or) {
    const uint8_t* pa = a.as<uint8_t>();
    const uint8_t* pb = b.as<uint8_t>();
    uint8_t* py = y->as<uint8_t>();
    bool is_and = op == OpType::And;
    for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t) {
      py[o] = is_and ? (pa[i] && pb[j]) : (pa[i] || pb[j]);
    });
    return Status::ok();
  }
  if (op == OpType::Pow) {
    // The exponent may have another dtype than the base (ONNX); compute in double.
    bool ok = dispatch_numeric(a.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* pa = a.as<T>();
      T* py = y->as<T>();
      for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t) {
        double e = read_double(b, j);
        if constexpr (std::is_same_v<T, float>) py[o] = std::pow(pa[i], static_cast<float>(e));
        else py[o] = static_cast<T>(std::pow(static_cast<double>(pa[i]), e));
      });
    });
    return ok ? Status::ok() : ctx.unsupported("base dtype %s", dtype_name(a.dtype));
  }
  bool ok = dispatch_numeric(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.as<T>();
    const T* pb = b.as<T>();
    if (ops::is_comparison(op)) {
      uint8_t* py = y->as<uint8_t>();
      for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t) {
        py[o] = apply_compare<T>(op, pa[i], pb[j]);
      });
    } else {
      T* py = y->as<T>();
      for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t) {
        py[o] = apply_arith<T>(op, pa[i], pb[j]);
      });
    }
  });
  return ok ? Status::ok() : ctx.unsupported("dtype %s", dtype_name(a.dtype));
}

Status prelu(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& s = *ctx.in(1);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32) return ctx.unsupported("dtype %s", dtype_name(x.dtype));
  const Shape* ins[2] = {&x.shape, &s.shape};
  const float* px = x.as<float>();
  const float* ps = s.as<float>();
  float* py = y->as<float>();
  for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t) {
    py[o] = px[i] < 0 ? px[i] * ps[j] : px[i];
  });
  return Status::ok();
}

}  // namespace tern::ref
