// Scaled-dot-product attention -> one Attention node:
//
//   S = MatMul(Q, Kt) [* c | / c] [+ bias] ; P = Softmax(S, last axis) ; Y = MatMul(P, V)
//
// The scale may also sit on Q or on K as a constant multiplication before the first MatMul (timm,
// MobileViT: q = q * scale); it is absorbed into AttentionOptions.scale. When Kt is a Transpose
// that swaps only the last two axes of K, the Transpose disappears (k_transposed = false);
// otherwise Kt itself is the K input with k_transposed = true (its layout [..., D, Lk]).
// The bias (an additive mask or relative-position bias) is any value that broadcasts to the
// logits; a bias added before the scale is accepted only when it is a constant (it is scaled).
// Multi-head Reshape/Transpose around the core stay as they are: the Attention node sees the
// per-head [B, H, L, D] tensors the exporter made.
#include "passes/fuse_util.h"

namespace tern::compiler {

namespace {

using fuse::Rewriter;

bool plain_matmul(const ir::Node* n) {
  return n && n->lowered && n->op == OpType::MatMul && (n->inputs.size() < 3 || !n->inputs[2]) &&
         static_cast<const fb::MatMulOptionsT*>(n->options.value)->activation == fb::Activation::None &&
         n->inputs[0]->shape.rank >= 2 && n->inputs[1]->shape.rank >= 2 && fuse::is_f32(n->outputs[0]);
}

// n = Mul(x, c) or Div(x, c) with a constant scalar: x and the factor.
bool scalar_scale(const ir::Node* n, ir::Value** x, double* factor) {
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

bool swaps_last_two(const ir::Node* t) {
  if (!t || !t->lowered || t->op != OpType::Transpose) return false;
  const auto& p = static_cast<const fb::TransposeOptionsT*>(t->options.value)->perm;
  const int r = static_cast<int>(p.size());
  if (r < 2) return false;
  for (int i = 0; i < r - 2; ++i)
    if (p[static_cast<size_t>(i)] != i) return false;
  return p[static_cast<size_t>(r - 2)] == r - 1 && p[static_cast<size_t>(r - 1)] == r - 2;
}

// Absorbs a constant scalar scale applied to `v` (sole use: `user`).
ir::Value* absorb_scale(Rewriter& rw, ir::Value* v, ir::Node* user, double* scale, std::vector<ir::Node*>* nodes) {
  ir::Value* x;
  double f;
  if (v->producer && scalar_scale(v->producer, &x, &f) && rw.internal(v, {user}) && x->shape == v->shape && x->dtype == v->dtype) {
    nodes->push_back(v->producer);
    *scale *= f;
    return x;
  }
  return v;
}

bool fuse_sdpa(Rewriter& rw, ir::Node& sm) {
  if (!sm.lowered || sm.op != OpType::Softmax) return false;
  ir::Value* s = sm.inputs[0];
  if (static_cast<const fb::AxisOptionsT*>(sm.options.value)->axis != s->shape.rank - 1 || !fuse::is_f32(s)) return false;
  ir::Node* pv = rw.sole_user(sm.outputs[0]);
  if (!plain_matmul(pv) || pv->inputs[0] != sm.outputs[0]) return false;

  // Walk back from the logits to the first MatMul through at most one scale and one bias.
  std::vector<ir::Node*> nodes = {&sm};
  double scale = 1.0;
  bool have_scale = false;
  ir::Value* bias = nullptr;
  ir::Value* cur = s;
  ir::Node* next = &sm;
  ir::Node* qk = nullptr;
  for (int step = 0; step < 3 && !qk; ++step) {
    ir::Node* p = cur->producer;
    if (!p || !p->lowered || !rw.internal(cur, {next})) return false;
    if (plain_matmul(p)) {
      qk = p;
      break;
    }
    ir::Value* x;
    double f;
    if (!have_scale && scalar_scale(p, &x, &f) && x->shape == cur->shape) {
      // A bias matched before (nearer the Softmax) is added after this scale: QK * c + bias.
      have_scale = true;
      scale *= f;
      nodes.push_back(p);
      next = p;
      cur = x;
      continue;
    }
    if (!bias && !have_scale && p->op == OpType::Add) {
      // The chain side is the one leading to the MatMul (directly or through the scale).
      int chain = -1;
      for (int i = 0; i < 2; ++i) {
        ir::Node* q = p->inputs[i]->producer;
        ir::Value* y;
        bool leads = plain_matmul(q) || (scalar_scale(q, &y, &f) && plain_matmul(y->producer));
        if (leads) chain = chain == -1 ? i : -2;
      }
      if (chain < 0) return false;
      ir::Value* c = p->inputs[chain];
      ir::Value* b = p->inputs[1 - chain];
      if (c->shape != cur->shape || b->dtype != DType::Float32) return false;
      bias = b;
      nodes.push_back(p);
      next = p;
      cur = c;
      continue;
    }
    return false;
  }
  if (!qk || !rw.internal(qk->outputs[0], {next})) return false;
  nodes.push_back(qk);
  ir::Value* q = absorb_scale(rw, qk->inputs[0], qk, &scale, &nodes);
  ir::Value* kt = qk->inputs[1];
  fb::AttentionOptionsT o;
  o.k_transposed = true;
  ir::Value* k = kt;
  if (swaps_last_two(kt->producer) && rw.internal(kt, {qk})) {
    ir::Node* t = kt->producer;
    nodes.push_back(t);
    k = absorb_scale(rw, t->inputs[0], t, &scale, &nodes);
    o.k_transposed = false;
  } else {
    k = absorb_scale(rw, kt, qk, &scale, &nodes);
  }
  o.scale = static_cast<float>(scale);
  std::vector<ir::Value*> ins = {q, k, pv->inputs[1]};
  if (bias) ins.push_back(bias);
  if (!fuse::infers_as(OpType::Attention, o, ins, pv->outputs[0])) return false;
  for (ir::Node* n : nodes) rw.kill(n);
  fuse::become(*pv, OpType::Attention, o, ins);
  return true;
}

}  // namespace

Status fuse_attention(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return fuse_sdpa(rw, node); });
  log.add("fuse-attention", "MatMul(Q,K^T)-[Mul|Div scale]-[Add bias]-Softmax-MatMul(V) -> Attention", n, before, g.nodes().size());
  return g.toposort();
}

}  // namespace tern::compiler
