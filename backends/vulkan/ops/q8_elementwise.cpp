// int8 element-wise ops on Vulkan, bit-exact with backends/reference/ops/binary_q8.cpp and
// quant_q8.cpp:
//  - Add / Sub / Mul with broadcasting (shaders/q8_binary.comp): the operands' rescaling tables
//    come from ref::BinaryQ8 (its lhs / rhs of every byte), the final multiplier from it too;
//  - Relu, Clip, Sigmoid, Tanh, HardSwish, HardSigmoid, Activation (shaders/q8_table.comp): each a
//    256-entry table of its output per input byte, built here with the reference's own formulas
//    (ref::activation_table_q8; quant::requantize for Relu / Clip);
//  - QuantizeLinear / DequantizeLinear, per tensor or per channel (shaders/q8_quant.comp).
#include <algorithm>
#include <cstring>

#include "ops/op_defs.h"
#include "vulkan/ops/q8_common.h"

namespace tern::vk {

namespace {

// Strides of `s` read as broadcast to `out` (right-aligned, 0 on broadcast dims).
void broadcast_strides(const Shape& s, const Shape& out, uint32_t* strides) {
  int64_t st = 1;
  for (int d = out.rank - 1; d >= 0; --d) {
    int sd = d - (out.rank - s.rank);
    if (sd < 0) {
      strides[d] = 0;
      continue;
    }
    strides[d] = s[sd] == 1 ? 0 : static_cast<uint32_t>(st);
    st *= s[sd];
  }
}

bool is_table_op(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::Clip: case OpType::Sigmoid: case OpType::Tanh: case OpType::HardSwish:
    case OpType::HardSigmoid: case OpType::Activation: return true;
    default: return false;
  }
}

Status per_tensor(const OpCall& c, std::initializer_list<const TensorRef*> ts) {
  for (const TensorRef* t : ts) {
    if (!ref::has_quant(t)) return c.error("an int8 operand has no quantization parameters");
    if (t->quant->count != 1) return c.error("int8 operands must be quantized per tensor");
    if (t->quant->zero_point[0] < quant::kQMin || t->quant->zero_point[0] > quant::kQMax)
      return c.error("an int8 operand has a zero point outside [-128, 127]");
  }
  return Status::ok();
}

// The record functions copy the TensorRefs they use: Recorder::constant may move the tensor table.
Status record_binary(const OpCall& c) {
  const TensorRef a = *c.in(0), b = *c.in(1), yv = *c.out(0);
  const TensorRef* y = &yv;
  TERN_RETURN_IF_ERROR(per_tensor(c, {&a, &b, y}));
  const OpType op = c.node->op;
  const int32_t z_a = ref::q_zero(a), z_b = ref::q_zero(b), z_y = ref::q_zero(*y);
  const ref::BinaryQ8 f(op, ref::q_scale(a), z_a, ref::q_scale(b), z_b, ref::q_scale(*y), z_y);
  std::vector<int32_t> table(512, 0);
  if (op != OpType::Mul)
    for (int i = 0; i < 256; ++i) {
      const int8_t v = static_cast<int8_t>(static_cast<uint8_t>(i));
      table[static_cast<size_t>(i)] = static_cast<int32_t>(f.lhs(v));
      table[256 + static_cast<size_t>(i)] = static_cast<int32_t>(f.rhs(v));
    }
  const int32_t t = c.rec->constant(DType::Int32, Shape{512}, table.data());
  uint32_t sa[8] = {}, sb[8] = {};
  broadcast_strides(a.shape, y->shape, sa);
  broadcast_strides(b.shape, y->shape, sb);
  const uint64_t n = static_cast<uint64_t>(y->numel());
  Params p;
  p.u(n).u(op == OpType::Add ? 0 : op == OpType::Sub ? 1 : 2).u(y->shape.rank);
  for (int d = 0; d < 8; ++d) p.u(d < y->shape.rank ? y->shape[d] : 1);
  for (int d = 0; d < 8; ++d) p.u(sa[d]);
  for (int d = 0; d < 8; ++d) p.u(sb[d]);
  p.u(z_a).u(z_b).u(z_y).u(f.my.mult).u(f.my.shift);
  c.rec->dispatch_threads("q8_binary", {c.in_id(0), c.in_id(1), t, c.out_id(0)}, p, n);
  return Status::ok();
}

Status record_table(const OpCall& c) {
  const TensorRef x = *c.in(0), yv = *c.out(0);
  const TensorRef* y = &yv;
  TERN_RETURN_IF_ERROR(per_tensor(c, {&x, y}));
  const OpType op = c.node->op;
  const float s_x = ref::q_scale(x), s_y = ref::q_scale(*y);
  const int32_t z_x = ref::q_zero(x), z_y = ref::q_zero(*y);
  int8_t bytes[256];
  if (op == OpType::Relu || op == OpType::Clip) {
    // binary_q8.cpp's unary_q8: requantize(x - z_x, s_x / s_y) within the activation's bounds.
    ref::ActivationParams act;
    act.kind = fb::Activation::Relu;
    if (op == OpType::Clip) {
      const auto* o = c.opts<fb::ClipOptionsT>();
      if (!o) return c.error("missing Clip options");
      act = {fb::Activation::Clip, o->min, o->max};
    }
    int32_t lo, hi;
    ref::q8_activation_bounds(act, s_y, z_y, &lo, &hi);
    const quant::Multiplier m = ref::make_multiplier(s_x, 1.0, s_y);
    for (int i = 0; i < 256; ++i) bytes[i] = quant::requantize(static_cast<int8_t>(static_cast<uint8_t>(i)) - z_x, m, z_y, lo, hi);
  } else {
    const auto* ao = op == OpType::Activation ? c.opts<fb::ActivationOptionsT>() : nullptr;
    const auto* ab = op == OpType::HardSigmoid ? c.opts<fb::AlphaBetaOptionsT>() : nullptr;
    ref::ActivationParams act;
    if (!ref::table_activation(op, ao, ab, &act)) return c.error("this op has no int8 form");
    ref::activation_table_q8(act, s_x, z_x, s_y, z_y, bytes);
  }
  int32_t table[256];
  for (int i = 0; i < 256; ++i) table[i] = bytes[i];
  const int32_t t = c.rec->constant(DType::Int32, Shape{256}, table);
  const uint64_t n = static_cast<uint64_t>(y->numel());
  Params p;
  p.u(n);
  c.rec->dispatch_threads("q8_table", {c.in_id(0), t, c.out_id(0)}, p, n);
  return Status::ok();
}

// QuantizeLinear (float -> int8, Y's parameters) or DequantizeLinear (int8 -> float, X's).
Status record_quant(const OpCall& c) {
  const bool quantize = c.node->op == OpType::QuantizeLinear;
  const TensorRef q = quantize ? *c.out(0) : *c.in(0);
  if (!ref::has_quant(&q)) return c.error("the int8 side has no quantization parameters");
  int64_t inner = 1, channels = 1;
  if (q.quant->count > 1) {
    if (q.quant->axis < 0 || q.quant->axis >= q.shape.rank || q.shape[q.quant->axis] != q.quant->count)
      return c.error("per-channel parameters do not match the tensor's channel axis");
    channels = q.shape[q.quant->axis];
    for (int i = q.quant->axis + 1; i < q.shape.rank; ++i) inner *= q.shape[i];
  }
  std::vector<uint32_t> s;
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float scale = ref::q_scale(q, ch);
    uint32_t bits;
    std::memcpy(&bits, &scale, 4);
    s.push_back(bits);
    s.push_back(static_cast<uint32_t>(ref::q_zero(q, ch)));
  }
  const int32_t t = c.rec->constant(DType::Int32, Shape{static_cast<int64_t>(s.size())}, s.data());
  const uint64_t n = static_cast<uint64_t>(q.numel());
  Params p;
  p.u(n).u(inner).u(channels).u(quantize ? 0 : 1);
  if (quantize) c.rec->dispatch_threads("q8_quant", {c.in_id(0), c.out_id(0), t}, p, n);
  else c.rec->dispatch_threads("q8_quant", {c.out_id(0), c.in_id(0), t}, p, n);
  return Status::ok();
}

}  // namespace

bool q8_elementwise_supports(const NodeQuery& q, std::string* why) {
  if (q.op == OpType::QuantizeLinear || q.op == OpType::DequantizeLinear) {
    if (q.fp16_storage) return decline(why, "int8 nodes run in float32-storage partitions");
    const bool quantize = q.op == OpType::QuantizeLinear;
    const TensorInfo* x = qin(q, 0);
    const TensorInfo* y = qout(q, 0);
    if (!x || !y) return decline(why, "missing input or output");
    if (quantize ? (x->dtype != DType::Float32 || y->dtype != DType::Int8) : (x->dtype != DType::Int8 || y->dtype != DType::Float32))
      return decline(why, quantize ? "QuantizeLinear other than float32 -> int8" : "DequantizeLinear other than int8 -> float32");
    return true;
  }
  if (is_table_op(q.op)) {
    if (!q.options || !q.options->value) {
      if (q.op == OpType::Activation || q.op == OpType::HardSigmoid || q.op == OpType::Clip) return decline(why, "missing options");
    }
    return q8_common(q, why, {0});
  }
  if (q.op != OpType::Add && q.op != OpType::Sub && q.op != OpType::Mul) return decline(why, "no int8 Vulkan kernel for this op");
  if (q.inputs.size() != 2) return decline(why, "binary kernel takes exactly two inputs");
  if (!q8_common(q, why, {0, 1})) return false;
  if (qout(q, 0)->shape.rank > 8) return decline(why, "rank above 8");
  return true;
}

Status q8_elementwise_record(const OpCall& c) {
  if (!c.out(0)) return Status::ok();
  const OpType op = c.node->op;
  if (op == OpType::QuantizeLinear || op == OpType::DequantizeLinear) return record_quant(c);
  if (is_table_op(op)) return record_table(c);
  return record_binary(c);
}

}  // namespace tern::vk
