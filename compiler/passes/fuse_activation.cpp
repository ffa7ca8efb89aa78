// Activation fusions:
//  - decomposed activations exporters emit become one Activation node:
//      Erf-GELU   x * 0.5 * (1 + erf(x / sqrt 2))              (any order of the two Muls)
//      tanh-GELU  x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
//      SiLU       x * sigmoid(x)
//      HardSwish  x * HardSigmoid(x; 1/6, 1/2), x * clip(x + 3, 0, 6) / 6
//  - an activation (Relu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Activation) whose input is
//    the sole use of a Conv / Gemm / MatMul result is folded into that op's `activation` field.
#include "passes/fuse_util.h"

namespace tern::compiler {

namespace {

using fuse::const_near;
using fuse::Rewriter;

constexpr double kSqrt2 = 1.4142135623730951, kInvSqrt2 = 0.7071067811865476;
constexpr double kSqrt2OverPi = 0.7978845608028654, kGeluTanhCoeff = 0.044715;

// y = Mul/Div(x, c) with a constant scalar c: x and the factor it multiplies x by.
bool scaled_by(const ir::Node* n, ir::Value** x, double* factor) {
  if (!n || !n->lowered) return false;
  double c;
  if (n->op == OpType::Mul && fuse::split_scalar(*n, x, &c)) {
    *factor = c;
    return true;
  }
  if (n->op == OpType::Div && fuse::split_scalar(*n, x, &c, false) && c != 0) {
    *factor = 1.0 / c;
    return true;
  }
  return false;
}

// From `b` = (1 + f(x)), matches the tail x * 0.5 * b in the three orders exporters use:
// (x * b) * 0.5, (x * 0.5) * b, (b * 0.5) * x. Returns the last node and adds the others to `nodes`.
ir::Node* match_half_x_times(Rewriter& rw, ir::Value* b, ir::Value* x, std::vector<ir::Node*>* nodes) {
  ir::Node* m1 = rw.sole_user(b);
  if (!m1 || !m1->lowered || m1->op != OpType::Mul) return nullptr;
  ir::Value* other = fuse::other_input(*m1, b);
  if (!other) return nullptr;
  if (other == x) {  // (x * b) * 0.5
    ir::Node* m2 = rw.sole_user(m1->outputs[0]);
    ir::Value* y;
    double f;
    if (m2 && scaled_by(m2, &y, &f) && y == m1->outputs[0] && std::fabs(f - 0.5) < 1e-6) {
      nodes->push_back(m1);
      return m2;
    }
    return nullptr;
  }
  if (ir::Node* h = Rewriter::producer(other, OpType::Mul)) {  // (x * 0.5) * b
    ir::Value* hx;
    double f;
    if (scaled_by(h, &hx, &f) && hx == x && std::fabs(f - 0.5) < 1e-6 && rw.internal(other, {m1})) {
      nodes->push_back(h);
      return m1;
    }
  }
  double f;
  if (const_near(other, 0.5, 1e-6)) {  // (b * 0.5) * x
    ir::Node* m2 = rw.sole_user(m1->outputs[0]);
    if (m2 && m2->lowered && m2->op == OpType::Mul && fuse::other_input(*m2, m1->outputs[0]) == x) {
      nodes->push_back(m1);
      return m2;
    }
  }
  (void)f;
  return nullptr;
}

// b = Add(t, 1) with t the sole use: returns the Add.
ir::Node* plus_one(Rewriter& rw, ir::Value* t) {
  ir::Node* a = rw.sole_user(t);
  if (!a || !a->lowered || a->op != OpType::Add) return nullptr;
  return const_near(fuse::other_input(*a, t), 1.0, 1e-6) ? a : nullptr;
}

void to_activation(ir::Node& last, fb::Activation kind, ir::Value* x) {
  fb::ActivationOptionsT o;
  o.activation = kind;
  fuse::become(last, OpType::Activation, o, {x});
}

bool fuse_erf_gelu(Rewriter& rw, ir::Node& e) {
  if (!e.lowered || e.op != OpType::Erf) return false;
  ir::Value* a = e.inputs[0];
  ir::Node* pa = a->producer;
  ir::Value* x;
  double f;
  if (!scaled_by(pa, &x, &f) || std::fabs(f - kInvSqrt2) > 1e-6 || !rw.internal(a, {&e}) || !fuse::is_f32(x)) return false;
  ir::Node* add = plus_one(rw, e.outputs[0]);
  if (!add) return false;
  std::vector<ir::Node*> nodes = {pa, &e, add};
  ir::Node* last = match_half_x_times(rw, add->outputs[0], x, &nodes);
  if (!last) return false;
  for (ir::Node* n : nodes) rw.kill(n);
  to_activation(*last, fb::Activation::GELU, x);
  return true;
}

// x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); returns x and the nodes.
ir::Value* cube_of(Rewriter& rw, ir::Value* c, std::vector<ir::Node*>* nodes) {
  ir::Node* p = c->producer;
  if (!p || !p->lowered) return nullptr;
  if (p->op == OpType::Pow && const_near(p->inputs[1], 3.0, 0)) {
    nodes->push_back(p);
    return p->inputs[0];
  }
  if (p->op != OpType::Mul) return nullptr;
  for (int s = 0; s < 2; ++s) {
    ir::Value* x = p->inputs[s];
    ir::Value* sq = p->inputs[1 - s];
    ir::Node* q = Rewriter::producer(sq, OpType::Mul);
    if (q && q->inputs[0] == x && q->inputs[1] == x && rw.internal(sq, {p})) {
      nodes->push_back(p);
      nodes->push_back(q);
      return x;
    }
  }
  return nullptr;
}

bool fuse_tanh_gelu(Rewriter& rw, ir::Node& t) {
  if (!t.lowered || t.op != OpType::Tanh) return false;
  ir::Value* ti = t.inputs[0];
  ir::Node* pm = ti->producer;
  ir::Value* inner;
  double f;
  if (!scaled_by(pm, &inner, &f) || std::fabs(f - kSqrt2OverPi) > 1e-5 || !rw.internal(ti, {&t})) return false;
  ir::Node* padd = Rewriter::producer(inner, OpType::Add);
  if (!padd || !rw.internal(inner, {pm})) return false;
  for (int s = 0; s < 2; ++s) {
    ir::Value* x = padd->inputs[s];
    ir::Value* m = padd->inputs[1 - s];
    ir::Node* pc = m->producer;
    ir::Value* cube;
    if (!scaled_by(pc, &cube, &f) || std::fabs(f - kGeluTanhCoeff) > 1e-5 || !rw.internal(m, {padd})) continue;
    std::vector<ir::Node*> nodes = {&t, pm, padd, pc};
    if (!rw.internal(cube, {pc}) || cube_of(rw, cube, &nodes) != x || !fuse::is_f32(x)) continue;
    ir::Node* add = plus_one(rw, t.outputs[0]);
    if (!add) return false;
    nodes.push_back(add);
    ir::Node* last = match_half_x_times(rw, add->outputs[0], x, &nodes);
    if (!last) return false;
    for (ir::Node* n : nodes) rw.kill(n);
    to_activation(*last, fb::Activation::GELUTanh, x);
    return true;
  }
  return false;
}

bool fuse_silu(Rewriter& rw, ir::Node& s) {
  if (!s.lowered || s.op != OpType::Sigmoid || !fuse::is_f32(s.inputs[0])) return false;
  ir::Value* x = s.inputs[0];
  ir::Node* m = rw.sole_user(s.outputs[0]);
  if (!m || !m->lowered || m->op != OpType::Mul || fuse::other_input(*m, s.outputs[0]) != x) return false;
  rw.kill(&s);
  to_activation(*m, fb::Activation::SiLU, x);
  return true;
}

bool fuse_hard_swish(Rewriter& rw, ir::Node& n) {
  if (!n.lowered) return false;
  // x * HardSigmoid(x) with PyTorch's hardsigmoid constants
  if (n.op == OpType::HardSigmoid && fuse::is_f32(n.inputs[0])) {
    const auto& o = *static_cast<const fb::AlphaBetaOptionsT*>(n.options.value);
    if (std::fabs(o.alpha - 1.0 / 6.0) > 1e-6 || std::fabs(o.beta - 0.5) > 1e-6) return false;
    ir::Value* x = n.inputs[0];
    ir::Node* m = rw.sole_user(n.outputs[0]);
    if (!m || !m->lowered || m->op != OpType::Mul || fuse::other_input(*m, n.outputs[0]) != x) return false;
    rw.kill(&n);
    to_activation(*m, fb::Activation::HardSwish, x);
    return true;
  }
  // x * clip(x + 3, 0, 6) / 6, the division before or after the product
  ir::Value* x;
  double c;
  if (n.op != OpType::Add || !fuse::split_scalar(n, &x, &c) || c != 3.0 || !fuse::is_f32(x)) return false;
  ir::Node* clip = rw.sole_user(n.outputs[0]);
  if (!clip || !clip->lowered || clip->op != OpType::Clip) return false;
  const auto& co = *static_cast<const fb::ClipOptionsT*>(clip->options.value);
  if (co.min != 0.0f || co.max != 6.0f) return false;
  ir::Node* n1 = rw.sole_user(clip->outputs[0]);
  if (!n1 || !n1->lowered) return false;
  ir::Node* last = nullptr;
  ir::Value* y;
  double f;
  if (n1->op == OpType::Mul && fuse::other_input(*n1, clip->outputs[0]) == x) {
    ir::Node* n2 = rw.sole_user(n1->outputs[0]);
    if (n2 && scaled_by(n2, &y, &f) && y == n1->outputs[0] && std::fabs(f - 1.0 / 6.0) < 1e-6) last = n2;
  } else if (scaled_by(n1, &y, &f) && y == clip->outputs[0] && std::fabs(f - 1.0 / 6.0) < 1e-6) {
    ir::Node* n2 = rw.sole_user(n1->outputs[0]);
    if (n2 && n2->lowered && n2->op == OpType::Mul && fuse::other_input(*n2, n1->outputs[0]) == x) last = n2;
  }
  if (!last) return false;
  rw.kill(&n);
  rw.kill(clip);
  rw.kill(n1);
  to_activation(*last, fb::Activation::HardSwish, x);
  return true;
}

// The activation a node computes, if it is one the producers' `activation` field can express.
bool activation_of_node(const ir::Node& n, fb::Activation* kind, float* lo, float* hi) {
  *lo = *hi = 0;
  switch (n.op) {
    case OpType::Relu: *kind = fb::Activation::Relu; return true;
    case OpType::Sigmoid: *kind = fb::Activation::Sigmoid; return true;
    case OpType::Tanh: *kind = fb::Activation::Tanh; return true;
    case OpType::HardSwish: *kind = fb::Activation::HardSwish; return true;
    case OpType::Clip: {
      const auto& o = *static_cast<const fb::ClipOptionsT*>(n.options.value);
      *kind = fb::Activation::Clip;
      *lo = o.min;
      *hi = o.max;
      return true;
    }
    case OpType::HardSigmoid: {
      const auto& o = *static_cast<const fb::AlphaBetaOptionsT*>(n.options.value);
      *kind = fb::Activation::HardSigmoid;
      *lo = o.alpha;
      *hi = o.beta;
      return true;
    }
    case OpType::Activation: {
      const auto& o = *static_cast<const fb::ActivationOptionsT*>(n.options.value);
      *kind = o.activation;
      *lo = o.activation_min;
      *hi = o.activation_max;
      return o.activation != fb::Activation::None;
    }
    default: return false;
  }
}

template <typename T>
bool set_activation(ir::Node& p, fb::Activation kind, float lo, float hi) {
  auto* o = static_cast<T*>(p.options.value);
  if (o->activation != fb::Activation::None) return false;
  o->activation = kind;
  o->activation_min = lo;
  o->activation_max = hi;
  return true;
}

bool fold_activation(Rewriter& rw, ir::Node& a, uint32_t* per_kind) {
  fb::Activation kind;
  float lo, hi;
  if (!a.lowered || a.inputs.size() != 1 || !activation_of_node(a, &kind, &lo, &hi)) return false;
  ir::Value* x = a.inputs[0];
  ir::Node* p = x->producer;
  if (!p || !p->lowered || !fuse::is_f32(x) || rw.sole_user(x) != &a || p->outputs.size() != 1) return false;
  bool ok = false;
  if (p->op == OpType::Conv) ok = set_activation<fb::ConvOptionsT>(*p, kind, lo, hi);
  else if (p->op == OpType::Gemm) ok = set_activation<fb::GemmOptionsT>(*p, kind, lo, hi);
  else if (p->op == OpType::MatMul) ok = set_activation<fb::MatMulOptionsT>(*p, kind, lo, hi);
  if (!ok) return false;
  // The producer now writes the activation's result.
  p->outputs[0] = a.outputs[0];
  a.outputs[0]->producer = p;
  x->producer = nullptr;
  rw.kill(&a);
  per_kind[static_cast<int>(kind)]++;
  return true;
}

}  // namespace

Status fuse_activations(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return fuse_erf_gelu(rw, node); });
  log.add("fuse-gelu", "Div(sqrt2)-Erf-Add(1)-Mul(x)-Mul(0.5) -> Activation(GELU)", n, before, g.nodes().size());
  before = g.nodes().size();
  n = rw.run([&](ir::Node& node) { return fuse_tanh_gelu(rw, node); });
  log.add("fuse-gelu-tanh", "x*0.5*(1+Tanh(0.79788*(x+0.044715*x^3))) -> Activation(GELUTanh)", n, before, g.nodes().size());
  before = g.nodes().size();
  n = rw.run([&](ir::Node& node) { return fuse_silu(rw, node); });
  log.add("fuse-silu", "Mul(x, Sigmoid(x)) -> Activation(SiLU)", n, before, g.nodes().size());
  before = g.nodes().size();
  n = rw.run([&](ir::Node& node) { return fuse_hard_swish(rw, node); });
  log.add("fuse-hardswish", "x*HardSigmoid(x), x*Clip(x+3,0,6)/6 -> Activation(HardSwish)", n, before, g.nodes().size());
  return g.toposort();
}

Status fuse_activation_into_producers(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t per_kind[static_cast<int>(fb::Activation::MAX) + 1] = {};
  uint32_t n = rw.run([&](ir::Node& node) { return fold_activation(rw, node, per_kind); });
  std::string kinds;
  for (int k = 0; k <= static_cast<int>(fb::Activation::MAX); ++k)
    if (per_kind[k]) kinds += std::string(kinds.empty() ? "" : ", ") + fb::EnumNameActivation(static_cast<fb::Activation>(k)) + " x" + std::to_string(per_kind[k]);
  log.add("fold-activations", "Conv/Gemm/MatMul -> activation" + (kinds.empty() ? std::string() : " (" + kinds + ")"), n, before,
          g.nodes().size());
  return g.toposort();
}

}  // namespace tern::compiler
