// Add, Sub, Mul on int8 with numpy broadcasting, and Relu / Clip on int8 (docs/quantization-scheme.md).
// Every operand and the result are quantized per tensor.
//
// Add/Sub follow the integer-only scheme of TFLite: both operands are brought to a common fine scale
// 2 * max(s_a, s_b) / 2^20 (each (q - z) is shifted left by 20, then multiplied by
// s / (2 * max(s_a, s_b)) <= 1/2), added, and requantized to s_y with the multiplier
// 2 * max(s_a, s_b) / (2^20 * s_y). Mul: acc = (a - z_a)(b - z_b), multiplier s_a * s_b / s_y.
// Relu / Clip: y = clamp(requantize(x - z_x, s_x / s_y) + z_y) within the activation's bounds.
// Activation (SiLU, GELU, ...) and Sigmoid / Tanh / HardSwish / HardSigmoid: a 256-entry table,
// quantize(f(dequantize(x))) (q8_util.h activation_table_q8).
#include <algorithm>

#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status binary_q8(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &a, "input A"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &b, "input B"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (a.quant->count != 1 || b.quant->count != 1 || y->quant->count != 1)
    return ctx.unsupported("int8 operands must be quantized per tensor");
  const float s_a = q_scale(a), s_b = q_scale(b), s_y = q_scale(*y);
  const int32_t z_a = q_zero(a), z_b = q_zero(b), z_y = q_zero(*y);
  const int8_t* pa = a.as<int8_t>();
  const int8_t* pb = b.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  const Shape* ins[2] = {&a.shape, &b.shape};
  if (ctx.op == OpType::Add || ctx.op == OpType::Sub || ctx.op == OpType::Mul) {
    const BinaryQ8 f(ctx.op, s_a, z_a, s_b, z_b, s_y, z_y);
    for_each_broadcast<2>(y->shape, ins, [&](int64_t o, int64_t ia, int64_t ib, int64_t) { py[o] = f(pa[ia], pb[ib]); });
    return Status::ok();
  }
  return ctx.unsupported("this op has no int8 form (Add, Sub and Mul do)");
}

Status unary_q8(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &x, "input X"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (x.quant->count != 1 || y->quant->count != 1) return ctx.unsupported("X and Y must be quantized per tensor");
  ActivationParams act;
  if (ctx.op == OpType::Relu) {
    act.kind = fb::Activation::Relu;
  } else if (ctx.op == OpType::Clip) {
    const auto& o = ctx.opts<fb::ClipOptionsT>();
    act = {fb::Activation::Clip, o.min, o.max};
  } else {
    // Activation / Sigmoid / Tanh / HardSwish / HardSigmoid: the 256-entry table of q8_util.h.
    const fb::ActivationOptionsT* ao = ctx.op == OpType::Activation && ctx.options ? &ctx.opts<fb::ActivationOptionsT>() : nullptr;
    const fb::AlphaBetaOptionsT* ab = ctx.op == OpType::HardSigmoid && ctx.options ? &ctx.opts<fb::AlphaBetaOptionsT>() : nullptr;
    if (!table_activation(ctx.op, ao, ab, &act))
      return ctx.unsupported("this op has no int8 form (Relu, Clip, Activation, Sigmoid, Tanh, HardSwish, HardSigmoid do)");
    int8_t table[256];
    activation_table_q8(act, q_scale(x), q_zero(x), q_scale(*y), q_zero(*y), table);
    const int8_t* px = x.as<int8_t>();
    int8_t* py = y->as<int8_t>();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) py[i] = table[static_cast<uint8_t>(px[i])];
    return Status::ok();
  }
  const float s_x = q_scale(x), s_y = q_scale(*y);
  const int32_t z_x = q_zero(x), z_y = q_zero(*y);
  int32_t lo, hi;
  q8_activation_bounds(act, s_y, z_y, &lo, &hi);
  const quant::Multiplier m = make_multiplier(s_x, 1.0, s_y);
  const int8_t* px = x.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) py[i] = quant::requantize(px[i] - z_x, m, z_y, lo, hi);
  return Status::ok();
}

}  // namespace tern::ref
