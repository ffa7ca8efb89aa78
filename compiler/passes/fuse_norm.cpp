// Normalization fusions: the decomposed forms older opsets and hand-written modules export.
//
//  LayerNorm  m = ReduceMean(x); d = x - m; v = ReduceMean(d^2); y = d / sqrt(v + eps) [* g] [+ b]
//             (d^2 as Pow(d, 2) or Mul(d, d); the division also as d * Reciprocal(sqrt))
//             -> LayerNormalization(x, g or ones, b)
//  RMSNorm    y = x * (1 / sqrt(ReduceMean(x^2) + eps)) [* w]   (Mamba's rsqrt form; also
//             x / sqrt(...), x * Reciprocal(sqrt(...)))  -> RMSNormalization(x, w or ones)
//  GroupNorm  Reshape([N, G, -1]) -> InstanceNormalization -> Reshape back [* gamma] [+ beta]
//             -> GroupNormalization(x, gamma, beta)
//
// The reductions must cover the trailing axes [axis, rank) with keepdims, and the affine
// parameters must be constants that broadcast to the normalized (trailing) shape.
#include "passes/fuse_util.h"

namespace tern::compiler {

namespace {

using fuse::Rewriter;

// The first normalized axis when `r` is a keepdims ReduceMean over the trailing axes of its input;
// -1 otherwise.
int trailing_axis(const ir::Node* r) {
  if (!r || !r->lowered || r->op != OpType::ReduceMean) return -1;
  const auto& o = *static_cast<const fb::ReduceOptionsT*>(r->options.value);
  const int rank = r->inputs[0]->shape.rank;
  if (!o.keepdims || o.axes.empty()) return -1;
  const int axis = rank - static_cast<int>(o.axes.size());
  for (size_t i = 0; i < o.axes.size(); ++i)
    if (o.axes[i] != axis + static_cast<int>(i)) return -1;
  return axis;
}

// An affine parameter of `y = prev op p`: the constant p when it broadcasts to the normalized shape
// of x (trailing axes from `axis`) and leaves y's shape unchanged. Leading 1s beyond the normalized
// rank are dropped by making a reshaped copy.
ir::Value* affine_param(Rewriter& rw, ir::Node* n, ir::Value* prev, const ir::Value* x, int axis) {
  ir::Value* p = fuse::other_input(*n, prev);
  if (!p || !p->is_constant() || p->dtype != DType::Float32 || n->outputs[0]->shape != x->shape) return nullptr;
  const int inner_rank = x->shape.rank - axis;
  Shape s = p->shape;
  int lead = s.rank - inner_rank;
  for (int i = 0; i < lead; ++i)
    if (s[i] != 1) return nullptr;
  for (int i = std::max(0, lead); i < s.rank; ++i) {
    int xi = axis + (i - lead);
    if (s[i] != 1 && s[i] != x->shape[xi]) return nullptr;
  }
  if (lead <= 0) return p;
  Shape t;
  t.rank = inner_rank;
  for (int i = 0; i < inner_rank; ++i) t[i] = s[lead + i];
  return rw.graph().add_constant(rw.graph().unique_name(p->name + "_trailing"), p->dtype, t, *p->data);
}

ir::Value* ones_for(Rewriter& rw, const ir::Value* x, int axis, const std::string& base) {
  Shape t;
  t.rank = x->shape.rank - axis;
  for (int i = 0; i < t.rank; ++i) t[i] = x->shape[axis + i];
  return rw.constant_f32(base, t, std::vector<float>(static_cast<size_t>(t.numel()), 1.0f));
}

// From a normalized value `y` (shape of x): optional `* scale` then optional `+ bias` by constants.
// Returns the last node of the match (or `last` when neither follows).
ir::Node* affine_tail(Rewriter& rw, ir::Node* last, const ir::Value* x, int axis, bool allow_bias, ir::Value** scale,
                      ir::Value** bias, std::vector<ir::Node*>* nodes) {
  *scale = *bias = nullptr;
  ir::Node* m = rw.sole_user(last->outputs[0]);
  if (m && m->lowered && m->op == OpType::Mul) {
    if (ir::Value* s = affine_param(rw, m, last->outputs[0], x, axis)) {
      *scale = s;
      nodes->push_back(last);
      last = m;
    }
  }
  if (!allow_bias || !*scale) return last;
  ir::Node* a = rw.sole_user(last->outputs[0]);
  if (a && a->lowered && a->op == OpType::Add) {
    if (ir::Value* b = affine_param(rw, a, last->outputs[0], x, axis)) {
      *bias = b;
      nodes->push_back(last);
      last = a;
    }
  }
  return last;
}

// v + eps with a constant scalar eps: returns the Add's sole consumer chain start.
ir::Node* add_eps(Rewriter& rw, ir::Value* v, double* eps) {
  ir::Node* a = rw.sole_user(v);
  ir::Value* other;
  if (!a || !a->lowered || a->op != OpType::Add || !fuse::split_scalar(*a, &other, eps) || other != v || *eps < 0) return nullptr;
  return a;
}

// d^2 as Pow(d, 2) or Mul(d, d): true when `sq` computes it.
bool is_square_of(const ir::Node* sq, const ir::Value* d) {
  if (!sq || !sq->lowered) return false;
  if (sq->op == OpType::Pow) return sq->inputs[0] == d && fuse::const_near(sq->inputs[1], 2.0, 0);
  return sq->op == OpType::Mul && sq->inputs[0] == d && sq->inputs[1] == d;
}

// Reciprocal square root applied to d: from s = Sqrt(...), matches d / s, d * (1 / s),
// d * Reciprocal(s) (either operand order for the Mul). Returns the node producing the normalized
// value and adds the helper node (if any) to `nodes`.
ir::Node* divide_by(Rewriter& rw, ir::Node* s, const ir::Value* d, std::vector<ir::Node*>* nodes) {
  ir::Node* n = rw.sole_user(s->outputs[0]);
  if (!n || !n->lowered) return nullptr;
  if (n->op == OpType::Div && n->inputs[0] == d && n->inputs[1] == s->outputs[0]) return n;
  bool recip = (n->op == OpType::Reciprocal) ||
               (n->op == OpType::Div && n->inputs[1] == s->outputs[0] && fuse::const_near(n->inputs[0], 1.0, 0));
  if (!recip) return nullptr;
  ir::Node* m = rw.sole_user(n->outputs[0]);
  if (!m || !m->lowered || m->op != OpType::Mul || fuse::other_input(*m, n->outputs[0]) != d) return nullptr;
  nodes->push_back(n);
  return m;
}

bool fuse_layer_norm(Rewriter& rw, ir::Node& r1) {
  const int axis = trailing_axis(&r1);
  ir::Value* x = r1.inputs[0];
  if (axis < 0 || !fuse::is_f32(x) || x->is_constant()) return false;
  ir::Node* sub = rw.sole_user(r1.outputs[0]);
  if (!sub || !sub->lowered || sub->op != OpType::Sub || sub->inputs[0] != x || sub->inputs[1] != r1.outputs[0]) return false;
  ir::Value* d = sub->outputs[0];
  ir::Node* sq = nullptr;
  for (ir::Node* u : rw.users(d))
    if (is_square_of(u, d)) sq = u;
  if (!sq) return false;
  ir::Node* r2 = rw.sole_user(sq->outputs[0]);
  if (trailing_axis(r2) != axis || r2->inputs[0]->shape != x->shape) return false;
  double eps;
  ir::Node* ae = add_eps(rw, r2->outputs[0], &eps);
  if (!ae) return false;
  ir::Node* s = rw.sole_user(ae->outputs[0]);
  if (!s || !s->lowered || s->op != OpType::Sqrt) return false;
  std::vector<ir::Node*> nodes = {&r1, sub, sq, r2, ae, s};
  ir::Node* dv = divide_by(rw, s, d, &nodes);
  if (!dv || !rw.internal(d, {sq, dv})) return false;
  // `nodes` now holds every matched node but the last, which becomes the fused node.
  ir::Value *scale, *bias;
  ir::Node* last = affine_tail(rw, dv, x, axis, true, &scale, &bias, &nodes);
  fb::NormOptionsT o;
  o.axis = axis;
  o.epsilon = static_cast<float>(eps);
  if (!scale) scale = ones_for(rw, x, axis, last->name + "_scale");
  std::vector<ir::Value*> ins = {x, scale};
  if (bias) ins.push_back(bias);
  if (!fuse::infers_as(OpType::LayerNormalization, o, ins, last->outputs[0])) return false;
  for (ir::Node* n : nodes) rw.kill(n);
  fuse::become(*last, OpType::LayerNormalization, o, ins);
  return true;
}

bool fuse_rms_norm(Rewriter& rw, ir::Node& r) {
  const int axis = trailing_axis(&r);
  if (axis < 0) return false;
  ir::Value* sqv = r.inputs[0];
  ir::Node* sq = sqv->producer;
  if (!sq || !sq->lowered || !rw.internal(sqv, {&r})) return false;
  ir::Value* x = sq->inputs[0];
  if (!is_square_of(sq, x) || !fuse::is_f32(x) || x->is_constant()) return false;
  double eps;
  ir::Node* ae = add_eps(rw, r.outputs[0], &eps);
  if (!ae) return false;
  ir::Node* s = rw.sole_user(ae->outputs[0]);
  if (!s || !s->lowered || s->op != OpType::Sqrt) return false;
  std::vector<ir::Node*> nodes = {sq, &r, ae, s};
  ir::Node* nx = divide_by(rw, s, x, &nodes);
  if (!nx) return false;
  ir::Value *scale, *bias;
  ir::Node* last = affine_tail(rw, nx, x, axis, false, &scale, &bias, &nodes);
  fb::NormOptionsT o;
  o.axis = axis;
  o.epsilon = static_cast<float>(eps);
  if (!scale) scale = ones_for(rw, x, axis, last->name + "_scale");
  std::vector<ir::Value*> ins = {x, scale};
  if (!fuse::infers_as(OpType::RMSNormalization, o, ins, last->outputs[0])) return false;
  for (ir::Node* n : nodes) rw.kill(n);
  fuse::become(*last, OpType::RMSNormalization, o, ins);
  return true;
}

// A constant per channel (axis 1 of a [N, C, ...] value; every other dim 1): its C factors.
bool channel_vector(const ir::Value* c, const Shape& y, std::vector<float>* out) {
  if (!c || !c->is_constant() || c->dtype != DType::Float32 || c->shape.rank > y.rank) return false;
  const int64_t ch = y[1];
  bool full = false;
  for (int i = 0; i < c->shape.rank; ++i) {
    const int yi = y.rank - c->shape.rank + i;
    if (c->shape[i] == 1) continue;
    if (yi != 1 || c->shape[i] != ch) return false;
    full = true;
  }
  out->resize(static_cast<size_t>(ch));
  for (int64_t i = 0; i < ch; ++i) (*out)[static_cast<size_t>(i)] = c->as<float>()[full ? i : 0];
  return true;
}

// GroupNorm as PyTorch exports it: Reshape(x -> [N, G, -1]) -> InstanceNormalization(ones,
// zeros) -> Reshape(back to x's shape) [-> Mul(gamma[C, 1, ...])] [-> Add(beta[C, 1, ...])]
// -> GroupNormalization(x, gamma, beta, num_groups = G). MobileViT v2's GroupNorm(1) "LayerNorm".
bool fuse_group_norm(Rewriter& rw, ir::Node& in) {
  if (!in.lowered || in.op != OpType::InstanceNormalization) return false;
  ir::Value* r1v = in.inputs[0];
  ir::Node* r1 = Rewriter::producer(r1v, OpType::Reshape);
  if (!r1 || !rw.internal(r1v, {&in})) return false;
  ir::Value* x = r1->inputs[0];
  const Shape& xs = x->shape;
  const Shape& gs = r1v->shape;
  if (!fuse::is_f32(x) || xs.rank < 3 || gs.rank != 3 || gs[0] != xs[0] || gs[1] < 1 || xs[1] % gs[1] != 0) return false;
  for (int k = 1; k < 3; ++k) {
    double v;
    if (!fuse::const_scalar(in.inputs[static_cast<size_t>(k)], &v) || v != (k == 1 ? 1.0 : 0.0)) return false;
  }
  ir::Node* r2 = rw.sole_user(in.outputs[0]);
  if (!r2 || !r2->lowered || r2->op != OpType::Reshape || r2->outputs[0]->shape != xs) return false;
  std::vector<ir::Node*> nodes = {r1, &in};
  ir::Node* last = r2;
  std::vector<float> gamma(static_cast<size_t>(xs[1]), 1.0f), beta(static_cast<size_t>(xs[1]), 0.0f);
  ir::Node* m = rw.sole_user(last->outputs[0]);
  if (m && m->lowered && m->op == OpType::Mul && m->outputs[0]->shape == xs &&
      channel_vector(fuse::other_input(*m, last->outputs[0]), xs, &gamma)) {
    nodes.push_back(last);
    last = m;
    ir::Node* a = rw.sole_user(last->outputs[0]);
    if (a && a->lowered && a->op == OpType::Add && a->outputs[0]->shape == xs &&
        channel_vector(fuse::other_input(*a, last->outputs[0]), xs, &beta)) {
      nodes.push_back(last);
      last = a;
    }
  }
  fb::NormOptionsT o;
  o.epsilon = static_cast<const fb::NormOptionsT*>(in.options.value)->epsilon;
  o.num_groups = static_cast<int32_t>(gs[1]);
  const Shape cs{xs[1]};
  std::vector<ir::Value*> ins = {x, rw.constant_f32(last->name + "_gamma", cs, gamma), rw.constant_f32(last->name + "_beta", cs, beta)};
  if (!fuse::infers_as(OpType::GroupNormalization, o, ins, last->outputs[0])) return false;
  for (ir::Node* n : nodes) rw.kill(n);
  fuse::become(*last, OpType::GroupNormalization, o, ins);
  return true;
}

}  // namespace

Status fuse_normalizations(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return fuse_layer_norm(rw, node); });
  log.add("fuse-layernorm", "ReduceMean-Sub-Pow-ReduceMean-Add-Sqrt-Div[-Mul][-Add] -> LayerNormalization", n, before,
          g.nodes().size());
  before = g.nodes().size();
  n = rw.run([&](ir::Node& node) { return fuse_rms_norm(rw, node); });
  log.add("fuse-rmsnorm", "Pow-ReduceMean-Add-Sqrt-Div(1,.)-Mul(x)[-Mul(w)] -> RMSNormalization", n, before, g.nodes().size());
  before = g.nodes().size();
  n = rw.run([&](ir::Node& node) { return fuse_group_norm(rw, node); });
  log.add("fuse-groupnorm", "Reshape-InstanceNormalization-Reshape[-Mul][-Add] -> GroupNormalization", n, before, g.nodes().size());
  return g.toposort();
}

}  // namespace tern::compiler
