// Elementwise ops on Vulkan (float32): unary ops and the fused Activation op (shaders/unary.comp),
// binary arithmetic with numpy broadcasting and PRelu (shaders/binary.comp). Comparisons, logic
// ops and integer arithmetic stay on the CPU (declined).
#include <cmath>

#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {

// unary.comp's code for an op (-1: not handled); a/b from the op's options.
int unary_code(OpType op, const fb::NodeOptionsUnion* options, float* a, float* b) {
  *a = 0, *b = 0;
  auto ab = [&]() -> const fb::AlphaBetaOptionsT* { return options ? static_cast<const fb::AlphaBetaOptionsT*>(options->value) : nullptr; };
  switch (op) {
    case OpType::Relu: return 1;
    case OpType::Clip: {
      const auto* o = options ? static_cast<const fb::ClipOptionsT*>(options->value) : nullptr;
      *a = o ? o->min : -INFINITY;
      *b = o ? o->max : INFINITY;
      return 2;
    }
    case OpType::Sigmoid: return 36;
    case OpType::HardSwish: return 7;
    case OpType::HardSigmoid:
      if (const auto* o = ab()) *a = o->alpha, *b = o->beta;
      return 8;
    case OpType::Tanh: return 9;
    case OpType::Erf: return 20;
    case OpType::Exp: return 21;
    case OpType::Log: return 22;
    case OpType::Sqrt: return 23;
    case OpType::Neg: return 24;
    case OpType::Abs: return 25;
    case OpType::Softplus: return 26;
    case OpType::Reciprocal: return 27;
    case OpType::LeakyRelu:
      if (const auto* o = ab()) *a = o->alpha;
      return 28;
    case OpType::Elu:
      if (const auto* o = ab()) *a = o->alpha;
      return 29;
    case OpType::Floor: return 30;
    case OpType::Ceil: return 31;
    case OpType::Round: return 32;
    case OpType::Sin: return 33;
    case OpType::Cos: return 34;
    case OpType::Sign: return 35;
    case OpType::Activation: {
      const auto* o = options ? static_cast<const fb::ActivationOptionsT*>(options->value) : nullptr;
      if (!o) return 0;
      *a = o->activation_min, *b = o->activation_max;
      return static_cast<int>(o->activation);
    }
    default: return -1;
  }
}

int binary_code(OpType op) {
  switch (op) {
    case OpType::Add: return 0;
    case OpType::Sub: return 1;
    case OpType::Mul: return 2;
    case OpType::Div: return 3;
    case OpType::Pow: return 4;
    case OpType::Min: return 5;
    case OpType::Max: return 6;
    case OpType::PRelu: return 7;
    default: return -1;
  }
}

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

}  // namespace

bool elementwise_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  float a, b;
  if (unary_code(q.op, q.options, &a, &b) >= 0) return true;
  if (binary_code(q.op) < 0) return decline(why, std::string("no Vulkan kernel for ") + ops::op_name(q.op));
  // Min/Max are variadic in ONNX; the kernel takes two operands.
  if (q.inputs.size() != 2 || !qin(q, 0) || !qin(q, 1)) return decline(why, "binary kernel takes exactly two inputs");
  if (qout(q, 0) && qout(q, 0)->shape.rank > 8) return decline(why, "rank above 8");
  return true;
}

Status elementwise_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const uint64_t n = static_cast<uint64_t>(y->numel());
  float a, b;
  int code = unary_code(c.node->op, c.node->options, &a, &b);
  if (code >= 0) {
    Params p;
    p.u(n).u(code).f(a).f(b);
    c.rec->dispatch_threads("unary", {c.in_id(0), c.out_id(0)}, p, n);
    return Status::ok();
  }
  uint32_t sa[8] = {}, sb[8] = {};
  broadcast_strides(c.in(0)->shape, y->shape, sa);
  broadcast_strides(c.in(1)->shape, y->shape, sb);
  Params p;
  p.u(n).u(binary_code(c.node->op)).u(y->shape.rank);
  for (int d = 0; d < 8; ++d) p.u(d < y->shape.rank ? y->shape[d] : 1);
  for (int d = 0; d < 8; ++d) p.u(sa[d]);
  for (int d = 0; d < 8; ++d) p.u(sb[d]);
  c.rec->dispatch_threads("binary", {c.in_id(0), c.in_id(1), c.out_id(0)}, p, n);
  return Status::ok();
}

}  // namespace tern::vk
