// Helpers for the int8 reference kernels (*_q8.cpp): reading a tensor's Quantization, the
// requantization multiplier of a channel, and the bounds of a fused activation. The arithmetic
// itself is runtime/core/quant.h (docs/quantization-scheme.md).
#pragma once

#include <algorithm>
#include <cmath>

#include "core/quant.h"
#include "reference/kernel.h"
#include "reference/ops/activation.h"

namespace tern::ref {

inline bool has_quant(const TensorRef* t) { return t && t->dtype == DType::Int8 && t->quant && t->quant->count >= 1; }
inline float q_scale(const TensorRef& t, int64_t c = 0) {
  return t.quant->count == 1 ? t.quant->scale[0] : t.quant->scale[c];
}
inline int32_t q_zero(const TensorRef& t, int64_t c = 0) {
  return static_cast<int32_t>(t.quant->count == 1 ? t.quant->zero_point[0] : t.quant->zero_point[c]);
}

// Checks that every given tensor is int8 with a Quantization (per tensor unless per_channel_ok).
inline Status require_quant(const KernelContext& ctx, const TensorRef* t, const char* what) {
  if (!t) return Status::ok();
  if (!has_quant(t)) return ctx.error("%s is %s without int8 quantization parameters", what, dtype_name(t->dtype));
  for (int i = 0; i < t->quant->count; ++i)
    if (t->quant->zero_point[i] < quant::kQMin || t->quant->zero_point[i] > quant::kQMax)
      return ctx.error("%s has zero point %lld outside [-128, 127]", what, static_cast<long long>(t->quant->zero_point[i]));
  return Status::ok();
}

// The multiplier s_a * s_b / s_out, computed in double from the float scales (every backend does
// the same, so the integer results agree exactly).
inline quant::Multiplier make_multiplier(double s_a, double s_b, double s_out) {
  quant::Multiplier m;
  quant::quantize_multiplier(s_a * s_b / s_out, &m);
  return m;
}

// int8 Add / Sub / Mul of per-tensor operands, one element (docs/quantization-scheme.md): both
// operands rescaled to a common scale with 20 bits of headroom for Add/Sub, the plain product for
// Mul. The one definition of these numerics: the reference kernel and the CPU backend's lookup
// tables both call it.
struct BinaryQ8 {
  OpType op = OpType::Add;
  quant::Multiplier ma, mb, my;
  int32_t z_a = 0, z_b = 0, z_y = 0;

  static constexpr int kLeftShift = 20;
  BinaryQ8(OpType o, float s_a, int32_t za, float s_b, int32_t zb, float s_y, int32_t zy) : op(o), z_a(za), z_b(zb), z_y(zy) {
    if (op == OpType::Mul) {
      my = make_multiplier(s_a, s_b, s_y);
      return;
    }
    const double twice_max = 2.0 * std::max<double>(s_a, s_b);
    quant::quantize_multiplier(s_a / twice_max, &ma);
    quant::quantize_multiplier(s_b / twice_max, &mb);
    quant::quantize_multiplier(twice_max / (static_cast<double>(int64_t{1} << kLeftShift) * s_y), &my);
  }
  // a rescaled for Add/Sub (also usable once per distinct a, as the CPU tables do)
  int64_t lhs(int8_t a) const { return quant::multiply_by_multiplier(static_cast<int64_t>(a - z_a) * (int64_t{1} << kLeftShift), ma); }
  int64_t rhs(int8_t b) const { return quant::multiply_by_multiplier(static_cast<int64_t>(b - z_b) * (int64_t{1} << kLeftShift), mb); }
  // Add/Sub from the rescaled operands
  int8_t combine(int64_t va, int64_t vb) const {
    return quant::requantize(static_cast<int32_t>(op == OpType::Sub ? va - vb : va + vb), my, z_y);
  }
  int8_t operator()(int8_t a, int8_t b) const {
    if (op == OpType::Mul) return quant::requantize((a - z_a) * (b - z_b), my, z_y);
    return combine(lhs(a), rhs(b));
  }
};

// The quantized output range of a fused Relu / Clip (anything else is not int8-able: the kernel
// reports it).
inline bool q8_activation_bounds(const ActivationParams& a, float s_out, int32_t z_out, int32_t* lo, int32_t* hi) {
  switch (a.kind) {
    case fb::Activation::None: *lo = quant::kQMin; *hi = quant::kQMax; return true;
    case fb::Activation::Relu: quant::activation_bounds(0.0f, INFINITY, s_out, z_out, lo, hi); return true;
    case fb::Activation::Clip: quant::activation_bounds(a.min, a.max, s_out, z_out, lo, hi); return true;
    default: return false;
  }
}

// int8 element-wise activation (Activation op, standalone Sigmoid / Tanh / HardSwish / HardSigmoid):
// y_q = quantize_value((float)f(dequantize_value(x_q; s_x, z_x)); s_y, z_y), with f evaluated in
// double. The result depends only on the input byte, so this is the one definition of a 256-entry
// table that the reference kernel and the CPU kernel both build (index: the input byte as uint8).
inline double activate_double(const ActivationParams& a, double x) {
  switch (a.kind) {
    case fb::Activation::None: return x;
    case fb::Activation::Relu: return x < 0.0 ? 0.0 : x;
    case fb::Activation::Clip: return std::min(std::max(x, static_cast<double>(a.min)), static_cast<double>(a.max));
    case fb::Activation::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case fb::Activation::SiLU: return x / (1.0 + std::exp(-x));
    case fb::Activation::GELU: return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440));
    case fb::Activation::GELUTanh: return 0.5 * x * (1.0 + std::tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
    case fb::Activation::HardSwish: return x * std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0);
    case fb::Activation::HardSigmoid: return std::min(std::max(static_cast<double>(a.min) * x + static_cast<double>(a.max), 0.0), 1.0);
    case fb::Activation::Tanh: return std::tanh(x);
  }
  return x;
}
inline void activation_table_q8(const ActivationParams& a, float s_x, int32_t z_x, float s_y, int32_t z_y, int8_t table[256]) {
  for (int i = 0; i < 256; ++i) {
    const int8_t q = static_cast<int8_t>(static_cast<uint8_t>(i));
    const double x = static_cast<double>(quant::dequantize_value(q, s_x, z_x));
    table[i] = quant::quantize_value(static_cast<float>(activate_double(a, x)), s_y, z_y);
  }
}

// The function a table node applies: the Activation op's options (`ao`), or the standalone unary
// op's own (HardSigmoid: `ab`). False for any other op or a missing options table.
inline bool table_activation(OpType op, const fb::ActivationOptionsT* ao, const fb::AlphaBetaOptionsT* ab, ActivationParams* a) {
  switch (op) {
    case OpType::Activation:
      if (!ao) return false;
      *a = activation_of(*ao);
      return true;
    case OpType::Sigmoid: *a = {fb::Activation::Sigmoid, 0, 0}; return true;
    case OpType::Tanh: *a = {fb::Activation::Tanh, 0, 0}; return true;
    case OpType::HardSwish: *a = {fb::Activation::HardSwish, 0, 0}; return true;
    case OpType::HardSigmoid:
      if (!ab) return false;
      *a = {fb::Activation::HardSigmoid, ab->alpha, ab->beta};
      return true;
    default: return false;
  }
}

}  // namespace tern::ref
