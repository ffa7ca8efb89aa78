// Linear-layer fusions:
//  - BatchNormalization folded into the Conv / Gemm / MatMul (constant weights) that produces its
//    input: W' = W * f, b' = b * f + (beta - mean * f) with f = gamma / sqrt(var + eps), per output
//    channel (a MatMul also through a Transpose that makes its columns the channel axis); else into
//    the unpadded Conv that reads it (W'[:, c] = W[:, c] * f[c], b' = b + W . shift); else it
//    becomes Mul(x, f) + (beta - mean * f) with per-channel constants.
//  - MatMul + Add(constant vector of the N output columns) -> MatMul with its bias input (fully
//    connected); likewise Gemm without C + Add -> Gemm with C.
// Folded constants are new values: the originals may be shared with other nodes.
#include "passes/fuse_util.h"

namespace tern::compiler {

namespace {

using fuse::Rewriter;

const float* f32(const ir::Value* v) { return v->as<float>(); }

// Per-channel factor and shift of an inference-mode BatchNormalization.
bool bn_factors(const ir::Node& bn, std::vector<float>* f, std::vector<float>* shift) {
  for (size_t i = 1; i < 5; ++i)
    if (!bn.inputs[i] || !bn.inputs[i]->is_constant() || bn.inputs[i]->dtype != DType::Float32) return false;
  const float eps = static_cast<const fb::NormOptionsT*>(bn.options.value)->epsilon;
  const int64_t c = bn.inputs[1]->shape.numel();
  f->resize(static_cast<size_t>(c));
  shift->resize(static_cast<size_t>(c));
  const float *gamma = f32(bn.inputs[1]), *beta = f32(bn.inputs[2]), *mean = f32(bn.inputs[3]), *var = f32(bn.inputs[4]);
  for (int64_t i = 0; i < c; ++i) {
    // In double, then rounded once: what PyTorch's own fold (fuse_conv_bn_eval) computes in fp32
    // is within an ulp of this.
    double fi = gamma[i] / std::sqrt(static_cast<double>(var[i]) + eps);
    (*f)[i] = static_cast<float>(fi);
    (*shift)[i] = static_cast<float>(beta[i] - mean[i] * fi);
  }
  return true;
}

// New bias b * f + shift (b absent: shift).
std::vector<float> folded_bias(const ir::Value* b, const std::vector<float>& f, const std::vector<float>& shift, float b_scale = 1) {
  std::vector<float> out(shift);
  if (b)
    for (size_t i = 0; i < out.size(); ++i) out[i] += b_scale * f32(b)[b->shape.numel() == 1 ? 0 : i] * f[i];
  return out;
}

// The producer `p` of BN's input takes over BN's output.
void take_output(Rewriter& rw, ir::Node& p, ir::Node& bn) {
  ir::Value* old = p.outputs[0];
  p.outputs[0] = bn.outputs[0];
  bn.outputs[0]->producer = &p;
  old->producer = nullptr;
  rw.kill(&bn);
}

bool fold_into_conv(Rewriter& rw, ir::Node& p, ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  if (static_cast<const fb::ConvOptionsT*>(p.options.value)->activation != fb::Activation::None) return false;
  ir::Value* w = p.inputs[1];
  ir::Value* b = p.inputs.size() > 2 ? p.inputs[2] : nullptr;
  const int64_t m = w->shape[0];
  if (static_cast<int64_t>(f.size()) != m) return false;
  const int64_t per = w->shape.numel() / std::max<int64_t>(m, 1);
  std::vector<float> wd(f32(w), f32(w) + w->shape.numel());
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < per; ++i) wd[static_cast<size_t>(o * per + i)] *= f[static_cast<size_t>(o)];
  ir::Value* nw = rw.constant_f32(w->name + "_bn", w->shape, wd);
  ir::Value* nb = rw.constant_f32(bn.name + "_bias", Shape{m}, folded_bias(b, f, shift));
  p.inputs.resize(3);
  p.inputs[1] = nw;
  p.inputs[2] = nb;
  take_output(rw, p, bn);
  return true;
}

bool fold_into_gemm(Rewriter& rw, ir::Node& p, ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  auto& o = *static_cast<fb::GemmOptionsT*>(p.options.value);
  if (o.activation != fb::Activation::None) return false;
  ir::Value* w = p.inputs[1];
  ir::Value* c = p.inputs.size() > 2 ? p.inputs[2] : nullptr;
  const int64_t n = p.outputs[0]->shape[1];
  if (static_cast<int64_t>(f.size()) != n) return false;
  if (c && !(c->is_constant() && c->dtype == DType::Float32 && (c->shape.numel() == 1 || c->shape.numel() == n) &&
             (c->shape.rank < 2 || c->shape[0] == 1)))
    return false;
  // Y = alpha A B + beta C; BN(Y) = alpha A (B f) + (beta C) f + shift.
  std::vector<float> wd(f32(w), f32(w) + w->shape.numel());
  const int64_t rows = w->shape[0], cols = w->shape[1];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) wd[static_cast<size_t>(r * cols + j)] *= f[static_cast<size_t>(o.trans_b ? r : j)];
  p.inputs.resize(3);
  p.inputs[1] = rw.constant_f32(w->name + "_bn", w->shape, wd);
  p.inputs[2] = rw.constant_f32(bn.name + "_bias", Shape{n}, folded_bias(c, f, shift, o.beta));
  o.beta = 1.0f;
  take_output(rw, p, bn);
  return true;
}

// MatMul x [K, N] whose N output columns are BN's channels: scales W's columns and folds the
// shift into the bias. The caller rewires the output.
bool scale_matmul_columns(Rewriter& rw, ir::Node& p, const ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  if (static_cast<const fb::MatMulOptionsT*>(p.options.value)->activation != fb::Activation::None) return false;
  ir::Value* w = p.inputs[1];
  ir::Value* b = p.inputs.size() > 2 ? p.inputs[2] : nullptr;
  if (w->shape.rank != 2) return false;
  const int64_t k = w->shape[0], n = w->shape[1];
  if (static_cast<int64_t>(f.size()) != n) return false;
  std::vector<float> wd(f32(w), f32(w) + w->shape.numel());
  for (int64_t r = 0; r < k; ++r)
    for (int64_t j = 0; j < n; ++j) wd[static_cast<size_t>(r * n + j)] *= f[static_cast<size_t>(j)];
  p.inputs.resize(3);
  p.inputs[1] = rw.constant_f32(w->name + "_bn", w->shape, wd);
  p.inputs[2] = rw.constant_f32(bn.name + "_bias", Shape{n}, folded_bias(b, f, shift));
  return true;
}

// MatMul [M, K] x [K, N] (a matrix result, so BN's channel axis 1 is the N columns).
bool fold_into_matmul(Rewriter& rw, ir::Node& p, ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  if (p.outputs[0]->shape.rank != 2 || !scale_matmul_columns(rw, p, bn, f, shift)) return false;
  take_output(rw, p, bn);
  return true;
}

// MatMul -> Transpose (moving the last axis to axis 1, e.g. [B, L, C] -> [B, C, L]) -> BN: the
// columns are still BN's channels; the Transpose stays and takes over BN's output.
bool fold_through_transpose(Rewriter& rw, ir::Node& t, ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  const auto& perm = static_cast<const fb::TransposeOptionsT*>(t.options.value)->perm;
  ir::Value* y = t.inputs[0];
  ir::Node* p = y->producer;
  if (perm.size() < 2 || perm[1] != static_cast<int32_t>(perm.size()) - 1 || !p || !p->lowered || p->op != OpType::MatMul ||
      rw.sole_user(y) != &t || p->inputs.size() < 2 || !p->inputs[1]->is_constant() || p->inputs[1]->dtype != DType::Float32 ||
      (p->inputs.size() > 2 && p->inputs[2] && !p->inputs[2]->is_constant()))
    return false;
  if (!scale_matmul_columns(rw, *p, bn, f, shift)) return false;
  take_output(rw, t, bn);
  return true;
}

// BN -> Conv without padding: the next Conv absorbs the per-input-channel scale in its weights and
// the shift in its bias (with padding the shift would wrongly reach the padded border).
bool fold_into_next_conv(Rewriter& rw, ir::Node& bn, const std::vector<float>& f, const std::vector<float>& shift) {
  ir::Node* c = rw.sole_user(bn.outputs[0]);
  if (!c || !c->lowered || c->op != OpType::Conv || c->inputs[0] != bn.outputs[0]) return false;
  const auto& o = *static_cast<const fb::ConvOptionsT*>(c->options.value);
  for (int32_t pad : o.pads)
    if (pad != 0) return false;
  ir::Value* w = c->inputs[1];
  ir::Value* b = c->inputs.size() > 2 ? c->inputs[2] : nullptr;
  if (!w->is_constant() || w->dtype != DType::Float32 || (b && !b->is_constant())) return false;
  const int64_t m = w->shape[0], cg = w->shape[1], taps = w->shape.numel() / std::max<int64_t>(m * cg, 1);
  const int64_t mg = m / o.group;
  if (cg * o.group != static_cast<int64_t>(f.size())) return false;
  std::vector<float> wd(f32(w), f32(w) + w->shape.numel());
  std::vector<float> bd(static_cast<size_t>(m), 0.0f);
  for (int64_t oc = 0; oc < m; ++oc) {
    const int64_t base = (oc / mg) * cg;
    double acc = b ? f32(b)[oc] : 0.0;
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t t = 0; t < taps; ++t) {
        float& wv = wd[static_cast<size_t>((oc * cg + ci) * taps + t)];
        acc += static_cast<double>(wv) * shift[static_cast<size_t>(base + ci)];
        wv *= f[static_cast<size_t>(base + ci)];
      }
    bd[static_cast<size_t>(oc)] = static_cast<float>(acc);
  }
  c->inputs.resize(3);
  c->inputs[0] = bn.inputs[0];
  c->inputs[1] = rw.constant_f32(w->name + "_bn", w->shape, wd);
  c->inputs[2] = rw.constant_f32(bn.name + "_next_bias", Shape{m}, bd);
  bn.outputs[0]->producer = nullptr;
  rw.kill(&bn);
  return true;
}

bool fold_batch_norm(Rewriter& rw, ir::Node& bn, uint32_t* folded, uint32_t* standalone) {
  if (!bn.lowered || bn.op != OpType::BatchNormalization || !fuse::is_f32(bn.inputs[0])) return false;
  std::vector<float> f, shift;
  if (!bn_factors(bn, &f, &shift)) return false;
  ir::Value* x = bn.inputs[0];
  ir::Node* p = x->producer;
  if (p && p->lowered && rw.sole_user(x) == &bn && p->outputs.size() == 1 && p->inputs.size() >= 2 && p->inputs[1]->is_constant() &&
      p->inputs[1]->dtype == DType::Float32 && (p->inputs.size() < 3 || !p->inputs[2] || p->inputs[2]->is_constant())) {
    bool ok = false;
    if (p->op == OpType::Conv) ok = fold_into_conv(rw, *p, bn, f, shift);
    else if (p->op == OpType::Gemm) ok = fold_into_gemm(rw, *p, bn, f, shift);
    else if (p->op == OpType::MatMul) ok = fold_into_matmul(rw, *p, bn, f, shift);
    if (ok) {
      ++*folded;
      return true;
    }
  }
  if (p && p->lowered && p->op == OpType::Transpose && rw.sole_user(x) == &bn && fold_through_transpose(rw, *p, bn, f, shift)) {
    ++*folded;
    return true;
  }
  if (fold_into_next_conv(rw, bn, f, shift)) {
    ++*folded;
    return true;
  }
  // Standalone: x * f + shift with [C, 1, ...] constants broadcasting over the spatial axes.
  Shape cs;
  cs.rank = x->shape.rank - 1;
  cs[0] = x->shape[1];
  for (int i = 1; i < cs.rank; ++i) cs[i] = 1;
  ir::Graph& g = rw.graph();
  ir::Value* fv = rw.constant_f32(bn.name + "_scale", cs, f);
  ir::Value* sv = rw.constant_f32(bn.name + "_shift", cs, shift);
  ir::Node* mul = g.add_node(g.unique_name(bn.name + "_mul"));
  ir::Value* t = g.add_value(g.unique_name(bn.name + "_scaled"));
  t->dtype = x->dtype;
  t->shape = x->shape;
  t->known = true;
  t->producer = mul;
  mul->lowered = true;
  mul->op = OpType::Mul;
  mul->inputs = {x, fv};
  mul->outputs = {t};
  fuse::become_plain(bn, OpType::Add, {t, sv});
  ++*standalone;
  return true;
}

// MatMul + Add(bias): the bias is a constant of the N output columns ([N], [1, N], ...).
bool fuse_matmul_bias(Rewriter& rw, ir::Node& a) {
  if (!a.lowered || a.op != OpType::Add) return false;
  for (int s = 0; s < 2; ++s) {
    ir::Value* y = a.inputs[s];
    ir::Value* c = a.inputs[1 - s];
    ir::Node* p = y->producer;
    if (!p || !p->lowered || (p->op != OpType::MatMul && p->op != OpType::Gemm) || rw.sole_user(y) != &a) continue;
    if (!c->is_constant() || c->dtype != DType::Float32 || y->dtype != DType::Float32 || a.outputs[0]->shape != y->shape) continue;
    if (p->inputs.size() > 2 && p->inputs[2]) continue;  // already has a bias
    const Shape& ys = y->shape;
    if (ys.rank < 1 || c->shape.rank > ys.rank) continue;
    const int64_t n = ys[ys.rank - 1];
    bool vec = c->shape.rank >= 1 && c->shape[c->shape.rank - 1] == n;
    for (int i = 0; i + 1 < c->shape.rank; ++i) vec &= c->shape[i] == 1;
    if (!vec) continue;
    if (p->op == OpType::MatMul) {
      if (static_cast<const fb::MatMulOptionsT*>(p->options.value)->activation != fb::Activation::None) continue;
      if (p->inputs[1]->shape.rank < 2) continue;  // a vector B has no column axis
    } else {
      auto* o = static_cast<fb::GemmOptionsT*>(p->options.value);
      if (o->activation != fb::Activation::None) continue;
      o->beta = 1.0f;
    }
    ir::Value* bias = c;
    if (c->shape.rank != 1) bias = rw.graph().add_constant(rw.graph().unique_name(c->name + "_vec"), c->dtype, Shape{n}, *c->data);
    p->inputs.resize(3);
    p->inputs[2] = bias;
    p->outputs[0] = a.outputs[0];
    a.outputs[0]->producer = p;
    y->producer = nullptr;
    rw.kill(&a);
    return true;
  }
  return false;
}

// A constant that multiplies y per channel (axis `axis` of y; every other dim of c is 1): the
// per-channel factors, else empty.
std::vector<float> per_channel(const ir::Value* c, const Shape& y, int axis) {
  if (!c->is_constant() || c->dtype != DType::Float32 || c->shape.rank > y.rank) return {};
  const int64_t ch = y[axis];
  int64_t n = 1;
  for (int i = 0; i < c->shape.rank; ++i) {
    const int yi = y.rank - c->shape.rank + i;
    if (c->shape[i] == 1) continue;
    if (yi != axis || c->shape[i] != ch) return {};
    n = ch;
  }
  std::vector<float> f(static_cast<size_t>(ch));
  for (int64_t i = 0; i < ch; ++i) f[static_cast<size_t>(i)] = f32(c)[n == 1 ? 0 : i];
  return f;
}

// Conv / Gemm / MatMul (constant weights, no activation yet) -> Mul(constant per output channel):
// the factors go into the weights and bias (EfficientFormer's and CaiT's layer scale).
bool fold_channel_scale(Rewriter& rw, ir::Node& m) {
  if (!m.lowered || m.op != OpType::Mul) return false;
  for (int s = 0; s < 2; ++s) {
    ir::Value* y = m.inputs[s];
    ir::Value* c = m.inputs[1 - s];
    ir::Node* p = y->producer;
    if (!p || !p->lowered || rw.sole_user(y) != &m || !fuse::is_f32(y) || m.outputs[0]->shape != y->shape) continue;
    if (p->inputs.size() < 2 || !p->inputs[1]->is_constant() || p->inputs[1]->dtype != DType::Float32 ||
        (p->inputs.size() > 2 && p->inputs[2] && !p->inputs[2]->is_constant()))
      continue;
    std::vector<float> f, zero;
    bool ok = false;
    if (p->op == OpType::Conv && static_cast<const fb::ConvOptionsT*>(p->options.value)->activation == fb::Activation::None) {
      f = per_channel(c, y->shape, 1);
      zero.assign(f.size(), 0.0f);
      ok = !f.empty() && fold_into_conv(rw, *p, m, f, zero);
    } else if (p->op == OpType::Gemm) {
      f = per_channel(c, y->shape, 1);
      zero.assign(f.size(), 0.0f);
      ok = !f.empty() && fold_into_gemm(rw, *p, m, f, zero);
    } else if (p->op == OpType::MatMul) {
      f = per_channel(c, y->shape, y->shape.rank - 1);
      zero.assign(f.size(), 0.0f);
      if (!f.empty() && scale_matmul_columns(rw, *p, m, f, zero)) {
        take_output(rw, *p, m);
        ok = true;
      }
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace

Status fuse_channel_scales(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return fold_channel_scale(rw, node); });
  log.add("fold-channel-scale", "Conv/Gemm/MatMul-Mul(constant per output channel) -> scaled weights", n, before, g.nodes().size());
  return g.toposort();
}

Status fuse_batch_norms(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t folded = 0, standalone = 0;
  rw.run([&](ir::Node& node) { return fold_batch_norm(rw, node, &folded, &standalone); });
  log.add("fold-batchnorm", "Conv/Gemm/MatMul[-Transpose]-BatchNormalization, BatchNormalization-Conv(no padding) -> folded weights", folded, before,
          g.nodes().size() - standalone);
  if (standalone)
    log.add("batchnorm-to-affine", "BatchNormalization with no producer to fold into -> Mul + Add per channel", standalone,
            g.nodes().size() - standalone, g.nodes().size());
  return g.toposort();
}

Status fuse_linear_bias(ir::Graph& g, PassLog& log) {
  Rewriter rw(g);
  size_t before = g.nodes().size();
  uint32_t n = rw.run([&](ir::Node& node) { return fuse_matmul_bias(rw, node); });
  log.add("fuse-matmul-bias", "MatMul/Gemm + Add(constant [N]) -> fully connected with bias", n, before, g.nodes().size());
  return g.toposort();
}

}  // namespace tern::compiler
