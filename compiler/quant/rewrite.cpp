#include "quant/rewrite.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quant.h"
#include "passes/pass.h"
#include "reference/ops/attention_q8.h"

namespace tern::compiler::quant {

namespace {

bool act_ok(fb::Activation a) {
  return a == fb::Activation::None || a == fb::Activation::Relu || a == fb::Activation::Clip;
}
bool is_f32_act(const ir::Value* v) { return v && v->dtype == DType::Float32 && !v->is_constant(); }
bool is_f32_const(const ir::Value* v) { return v && v->dtype == DType::Float32 && v->is_constant(); }

template <typename T> T* opts(ir::Node& n) { return static_cast<T*>(n.options.value); }
template <typename T> const T* opts(const ir::Node& n) { return static_cast<const T*>(n.options.value); }

// The fused-activation fields of a Conv / Gemm / MatMul (all null for any other op).
struct FusedActivation {
  fb::Activation* kind = nullptr;
  float* lo = nullptr;
  float* hi = nullptr;
};
FusedActivation fused_activation(ir::Node& n) {
  auto fields = [](auto* o) { return FusedActivation{&o->activation, &o->activation_min, &o->activation_max}; };
  switch (n.op) {
    case OpType::Conv: return fields(opts<fb::ConvOptionsT>(n));
    case OpType::Gemm: return fields(opts<fb::GemmOptionsT>(n));
    case OpType::MatMul: return fields(opts<fb::MatMulOptionsT>(n));
    default: return {};
  }
}

// ReduceMean whose reduced axes form one run (what the int8 kernels take, reference pool_q8.cpp).
bool contiguous_axes(const ir::Node& n) {
  const ir::Value* x = n.inputs[0];
  const auto* o = opts<fb::ReduceOptionsT>(n);
  if (!x || o->axes.empty()) return false;
  const int r = x->shape.rank;
  bool red[kMaxRank] = {};
  for (int32_t a : o->axes) {
    const int ax = a < 0 ? a + r : a;
    if (ax < 0 || ax >= r) return false;
    red[ax] = true;
  }
  int runs = 0;
  for (int i = 0; i < r; ++i) runs += red[i] && (i == 0 || !red[i - 1]);
  return runs == 1;
}

}  // namespace

bool is_quantizable(const ir::Node& n) {
  if (!n.lowered || n.outputs.size() != 1 || !n.outputs[0] || n.outputs[0]->dtype != DType::Float32) return false;
  const auto in = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : nullptr; };
  switch (n.op) {
    case OpType::Conv:
      return is_f32_act(in(0)) && is_f32_const(in(1)) && (!in(2) || is_f32_const(in(2))) &&
             act_ok(opts<fb::ConvOptionsT>(n)->activation);
    case OpType::Gemm: {
      const auto* o = opts<fb::GemmOptionsT>(n);
      const ir::Value* c = in(2);
      int64_t nn = n.outputs[0]->shape[1];
      bool c_ok = !c || (is_f32_const(c) && (c->shape.numel() == 1 || (c->shape.numel() == nn && c->shape[c->shape.rank - 1] == nn)));
      return is_f32_act(in(0)) && is_f32_const(in(1)) && c_ok && act_ok(o->activation);
    }
    case OpType::MatMul: {
      const ir::Value* b = in(1);
      if (!is_f32_act(in(0)) || !b || b->dtype != DType::Float32 || b->shape.rank < 2) return false;
      if (b->is_constant() && b->shape.rank != 2) return false;
      return (!in(2) || is_f32_const(in(2))) && act_ok(opts<fb::MatMulOptionsT>(n)->activation);
    }
    case OpType::Add: case OpType::Sub: case OpType::Mul:
      return in(0) && in(1) && in(0)->dtype == DType::Float32 && in(1)->dtype == DType::Float32 &&
             (is_f32_act(in(0)) || is_f32_act(in(1))) && in(0)->shape.numel() > 0 && in(1)->shape.numel() > 0;
    case OpType::Relu: case OpType::Clip: case OpType::GlobalAveragePool:
    case OpType::Sigmoid: case OpType::Tanh: case OpType::HardSwish: case OpType::HardSigmoid:
      return is_f32_act(in(0));
    case OpType::Activation:  // a 256-entry table on int8 (reference q8_util.h activation_table_q8)
      return is_f32_act(in(0)) && n.options.value;
    case OpType::AveragePool:  // NCHW or channels_last (the layout pass, CPU target)
      return is_f32_act(in(0));
    case OpType::ReduceMean:  // the layout pass's NHWC GlobalAveragePool (axes 1, 2): one contiguous run
      return is_f32_act(in(0)) && n.inputs.size() == 1 && n.options.value && contiguous_axes(n);
    case OpType::Attention: {  // Q, K, V activations, a constant bias or none (reference attention_q8.h)
      // (Whether the bias fits the int8 score grid depends on the scales: decided in quantize_node.)
      const auto* o = opts<fb::AttentionOptionsT>(n);
      return is_f32_act(in(0)) && is_f32_act(in(1)) && is_f32_act(in(2)) && (!in(3) || is_f32_const(in(3))) && o &&
             o->scale > 0.0f && std::isfinite(o->scale);
    }
    default:
      return false;
  }
}

bool is_passthrough(const ir::Node& n) {
  switch (n.op) {
    case OpType::Reshape: case OpType::Flatten: case OpType::Squeeze: case OpType::Unsqueeze: case OpType::Identity:
    case OpType::Transpose: case OpType::Slice: case OpType::MaxPool: case OpType::GlobalMaxPool:
    case OpType::Gather:  // (of an activation: MobileViT's q / k / v = qkv[:, :, i]; any dtype everywhere)
      return n.outputs.size() == 1 && n.outputs[0] && !n.inputs.empty() && is_f32_act(n.inputs[0]);
    case OpType::Split:  // every output takes the input's parameters (reference, CPU and Vulkan copy int8)
      return !n.outputs.empty() && !n.inputs.empty() && is_f32_act(n.inputs[0]);
    default:
      return false;
  }
}

std::unique_ptr<ir::Graph> clone_graph(const ir::Graph& g, std::unordered_map<const ir::Value*, ir::Value*>* map,
                                       std::unordered_map<const ir::Node*, ir::Node*>* node_map) {
  auto out = std::make_unique<ir::Graph>();
  out->opset = g.opset;
  out->producer = g.producer;
  out->model_name = g.model_name;
  std::unordered_map<const ir::Value*, ir::Value*>& m = *map;
  for (const auto& v : g.values()) {
    ir::Value* c = out->add_value(v->name);
    *c = *v;
    c->producer = nullptr;
    m[v.get()] = c;
  }
  for (const auto& n : g.nodes()) {
    ir::Node* c = out->add_node(n->name);
    c->onnx_type = n->onnx_type;
    c->onnx_domain = n->onnx_domain;
    c->proto = n->proto;
    c->lowered = n->lowered;
    c->op = n->op;
    c->options = n->options;
    for (ir::Value* v : n->inputs) c->inputs.push_back(v ? m.at(v) : nullptr);
    for (ir::Value* v : n->outputs) {
      c->outputs.push_back(v ? m.at(v) : nullptr);
      if (v) m.at(v)->producer = c;
    }
    if (node_map) (*node_map)[n.get()] = c;
  }
  for (ir::Value* v : g.inputs) out->inputs.push_back(m.at(v));
  for (ir::Value* v : g.outputs) out->outputs.push_back(m.at(v));
  return out;
}

size_t fold_activations(ir::Graph& g) {
  auto users = g.users();
  std::vector<ir::Node*> dead;
  for (auto& up : g.nodes()) {
    ir::Node& act = *up;
    if (act.op != OpType::Relu && act.op != OpType::Clip) continue;
    ir::Value* x = act.inputs[0];
    ir::Node* p = x ? x->producer : nullptr;
    if (!p || x->is_graph_output || users[x].size() != 1 || x->dtype != DType::Float32) continue;
    auto [kind, lo, hi] = fused_activation(*p);
    if (!kind || *kind != fb::Activation::None) continue;
    if (act.op == OpType::Relu) {
      *kind = fb::Activation::Relu;
    } else {
      const auto* c = opts<fb::ClipOptionsT>(act);
      *kind = fb::Activation::Clip;
      *lo = c->min;
      *hi = c->max;
    }
    ir::Value* y = act.outputs[0];
    p->outputs[0] = y;
    y->producer = p;
    dead.push_back(&act);
  }
  g.erase_nodes(dead);
  g.remove_dead();
  return dead.size();
}

size_t unfuse_float_activations(ir::Graph& g) {
  std::vector<ir::Node*> order;
  for (auto& n : g.nodes()) order.push_back(n.get());
  size_t count = 0;
  for (ir::Node* p : order) {
    auto [kind, lo, hi] = fused_activation(*p);
    if (!kind || act_ok(*kind) || p->outputs.empty() || !p->outputs[0] || p->outputs[0]->dtype != DType::Float32) continue;
    ir::Value* y = p->outputs[0];
    ir::Value* t = g.add_value(g.unique_name(y->name + "_preact"));
    t->dtype = y->dtype;
    t->shape = y->shape;
    t->known = true;
    t->producer = p;
    p->outputs[0] = t;
    ir::Node* a = g.add_node(g.unique_name(p->name + "_activation"));
    a->lowered = true;
    a->op = OpType::Activation;
    a->onnx_type = "Activation";
    auto* ao = new fb::ActivationOptionsT;
    ao->activation = *kind;
    ao->activation_min = *lo;
    ao->activation_max = *hi;
    a->options.type = fb::NodeOptions::ActivationOptions;
    a->options.value = ao;
    a->inputs = {t};
    a->outputs = {y};
    y->producer = a;
    *kind = fb::Activation::None;
    *lo = *hi = 0;
    ++count;
  }
  if (count) (void)g.toposort();
  return count;
}

namespace {

struct Builder {
  ir::Graph& g;
  const std::map<const ir::Value*, Range>& ranges;  // keyed by values of the ORIGINAL graph
  const std::unordered_map<const ir::Value*, const ir::Value*>& orig;  // clone value -> original
  bool per_channel;
  std::unordered_map<ir::Value*, ir::Value*> f2q;  // float value (clone) -> its int8 version
  Status status = Status::ok();

  bool range_of(ir::Value* v, Range* r) {
    auto it = orig.find(v);
    if (it == orig.end()) return false;
    auto rt = ranges.find(it->second);
    if (rt == ranges.end()) return false;
    *r = rt->second;
    return true;
  }

  ir::Value* new_q(ir::Value* like, const std::string& suffix, float scale, int32_t zp) {
    ir::Value* q = g.add_value(g.unique_name(like->name + suffix));
    q->dtype = DType::Int8;
    q->shape = like->shape;
    q->known = true;
    q->q_scale = {scale};
    q->q_zero_point = {zp};
    return q;
  }

  ir::Node* new_node(const std::string& base, OpType op, ir::Value* in, ir::Value* out) {
    ir::Node* n = g.add_node(g.unique_name(base));
    n->lowered = true;
    n->op = op;
    n->onnx_type = op == OpType::QuantizeLinear ? "QuantizeLinear" : "DequantizeLinear";
    n->inputs = {in};
    n->outputs = {out};
    out->producer = n;
    return n;
  }

  // The int8 version of a float activation (a QuantizeLinear is inserted on first need).
  ir::Value* get_q(ir::Value* x) {
    auto it = f2q.find(x);
    if (it != f2q.end()) return it->second;
    Range r;
    if (!range_of(x, &r)) {
      status = TERN_ERROR(kInternal, "value '%s' has no calibrated range", x->name.c_str());
      return nullptr;
    }
    float s;
    int32_t z;
    tern::quant::choose_activation_params(r.lo, r.hi, &s, &z);
    ir::Value* q = new_q(x, "_q", s, z);
    new_node(x->name + "_quantize", OpType::QuantizeLinear, x, q);
    f2q[x] = q;
    return q;
  }

  // A constant activation-like operand (Add/Mul): per tensor, asymmetric over its own min/max.
  ir::Value* const_q(ir::Value* c) {
    const float* p = c->as<float>();
    int64_t n = c->shape.numel();
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) lo = std::min(lo, p[i]), hi = std::max(hi, p[i]);
    float s;
    int32_t z;
    tern::quant::choose_activation_params(lo, hi, &s, &z);
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(tern::quant::quantize_value(p[i], s, z));
    ir::Value* q = g.add_constant(g.unique_name(c->name + "_q"), DType::Int8, c->shape, std::move(bytes));
    q->q_scale = {s};
    q->q_zero_point = {z};
    return q;
  }

  // Symmetric int8 weights, per channel along `axis` (or per tensor), after scaling by `mul`.
  ir::Value* weight_q(ir::Value* w, int axis, float mul) {
    const float* p = w->as<float>();
    const int64_t n = w->shape.numel();
    int64_t ch = 1, inner = 1;
    if (per_channel) {
      ch = w->shape[axis];
      for (int i = axis + 1; i < w->shape.rank; ++i) inner *= w->shape[i];
    }
    std::vector<float> absmax(static_cast<size_t>(ch), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      int64_t c = (i / inner) % ch;
      absmax[static_cast<size_t>(c)] = std::max(absmax[static_cast<size_t>(c)], std::fabs(p[i] * mul));
    }
    std::vector<float> scale(static_cast<size_t>(ch));
    for (int64_t c = 0; c < ch; ++c) scale[static_cast<size_t>(c)] = tern::quant::symmetric_scale(absmax[static_cast<size_t>(c)]);
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      float s = scale[static_cast<size_t>((i / inner) % ch)];
      float q = std::nearbyint(p[i] * mul / s);
      q = std::clamp(q, -127.0f, 127.0f);
      bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
    ir::Value* q = g.add_constant(g.unique_name(w->name + "_q"), DType::Int8, w->shape, std::move(bytes));
    q->q_scale = scale;
    q->q_zero_point.assign(scale.size(), 0);
    q->q_axis = ch > 1 ? axis : -1;
    return q;
  }

  // int32 bias [n] = round(mul * b / (s_in * s_w[c])); b is a scalar or n values.
  ir::Value* bias_q(ir::Value* b, int64_t n, float mul, float s_in, const ir::Value* wq) {
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * 4);
    std::vector<float> scale(static_cast<size_t>(n));
    const float* p = b ? b->as<float>() : nullptr;
    const int64_t bn = b ? b->shape.numel() : 0;
    for (int64_t c = 0; c < n; ++c) {
      float sw = wq->q_scale.size() == 1 ? wq->q_scale[0] : wq->q_scale[static_cast<size_t>(c)];
      double s = static_cast<double>(s_in) * sw;
      scale[static_cast<size_t>(c)] = static_cast<float>(s);
      double v = p ? mul * p[bn == 1 ? 0 : c] / s : 0.0;
      int32_t q = static_cast<int32_t>(std::clamp(std::nearbyint(v), -2147483647.0, 2147483647.0));
      std::memcpy(bytes.data() + c * 4, &q, 4);
    }
    ir::Value* q = g.add_constant(g.unique_name((b ? b->name : std::string("bias")) + "_q"), DType::Int32, Shape{n}, std::move(bytes));
    q->q_scale = scale;
    q->q_zero_point.assign(scale.size(), 0);
    q->q_axis = n > 1 ? 0 : -1;
    if (n == 1) q->q_scale.resize(1), q->q_zero_point.resize(1);
    return q;
  }

  // The int32 bias of an int8 Attention (reference attention_q8.h): B = round(b / step), step =
  // s_q s_k scale (the score grid), same shape, the step recorded as its scale. Null where it does
  // not fit: a value not finite or beyond +-kMaxBias steps (in practice a mask of -1e9 or -inf).
  ir::Value* attention_bias_q(ir::Value* b, double step) {
    const float* p = b->as<float>();
    const int64_t n = b->shape.numel();
    if (!(static_cast<float>(step) > 0.0f)) return nullptr;
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      const double v = std::nearbyint(static_cast<double>(p[i]) / step);
      if (!(std::fabs(v) <= ref::attq8::kMaxBias)) return nullptr;  // (NaN too)
      const int32_t q = static_cast<int32_t>(v);
      std::memcpy(bytes.data() + i * 4, &q, 4);
    }
    ir::Value* q = g.add_constant(g.unique_name(b->name + "_q"), DType::Int32, b->shape, std::move(bytes));
    q->q_scale = {static_cast<float>(step)};
    q->q_zero_point = {0};
    return q;
  }

  // Replaces the node's float output by an int8 one with the output's calibrated quantization
  // (or the given one), recording the float -> int8 mapping.
  void set_output(ir::Node& n, const float* scale = nullptr, const int64_t* zp = nullptr, size_t index = 0) {
    ir::Value* y = n.outputs[index];
    float s;
    int32_t z;
    if (scale) {
      s = *scale;
      z = static_cast<int32_t>(*zp);
    } else {
      Range r;
      if (!range_of(y, &r)) {
        status = TERN_ERROR(kInternal, "value '%s' has no calibrated range", y->name.c_str());
        return;
      }
      tern::quant::choose_activation_params(r.lo, r.hi, &s, &z);
    }
    ir::Value* q = new_q(y, "_q", s, z);
    n.outputs[index] = q;
    q->producer = &n;
    y->producer = nullptr;
    f2q[y] = q;
  }

  void quantize_node(ir::Node& n) {
    auto in = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : nullptr; };
    switch (n.op) {
      case OpType::Conv: {
        ir::Value* xq = get_q(in(0));
        if (!xq) return;
        ir::Value* wq = weight_q(in(1), 0, 1.0f);
        ir::Value* bq = in(2) ? bias_q(in(2), in(1)->shape[0], 1.0f, xq->q_scale[0], wq) : nullptr;
        n.inputs = {xq, wq};
        if (bq) n.inputs.push_back(bq);
        set_output(n);
        return;
      }
      case OpType::Gemm: {
        auto* o = opts<fb::GemmOptionsT>(n);
        ir::Value* xq = get_q(in(0));
        if (!xq) return;
        ir::Value* wq = weight_q(in(1), o->trans_b ? 0 : 1, o->alpha);
        const int64_t nn = n.outputs[0]->shape[1];
        ir::Value* bq = in(2) ? bias_q(in(2), nn, o->beta, xq->q_scale[0], wq) : nullptr;
        o->alpha = 1;
        o->beta = 1;
        n.inputs = {xq, wq};
        if (bq) n.inputs.push_back(bq);
        set_output(n);
        return;
      }
      case OpType::MatMul: {
        ir::Value* xq = get_q(in(0));
        if (!xq) return;
        ir::Value* wq = in(1)->is_constant() ? weight_q(in(1), 1, 1.0f) : get_q(in(1));
        if (!wq) return;
        ir::Value* bq = nullptr;
        if (in(2)) {
          if (!in(1)->is_constant() && wq->q_zero_point[0] != 0) {
            status = TERN_ERROR(kInternal, "MatMul bias with an activation B");
            return;
          }
          bq = bias_q(in(2), in(1)->shape[in(1)->shape.rank - 1], 1.0f, xq->q_scale[0], wq);
        }
        n.inputs = {xq, wq};
        if (bq) n.inputs.push_back(bq);
        set_output(n);
        return;
      }
      case OpType::Attention: {
        ir::Value* qq = get_q(in(0));
        ir::Value* kq = get_q(in(1));
        ir::Value* vq = get_q(in(2));
        if (!qq || !kq || !vq) return;
        ir::Value* bq = nullptr;
        if (in(3)) {
          // A bias beyond the int8 score range (or a depth beyond the biased kernels' exact range)
          // leaves the node fp32: its inputs and output stay float (the QuantizeLinears just made,
          // if unused, go with remove_dead).
          const double step = static_cast<double>(qq->q_scale[0]) * kq->q_scale[0] * opts<fb::AttentionOptionsT>(n)->scale;
          const Shape& qs = in(0)->shape;
          if (qs[qs.rank - 1] > ref::attq8::kMaxBiasedDepth || !(bq = attention_bias_q(in(3), step))) return;
        }
        n.inputs = {qq, kq, vq};
        if (bq) n.inputs.push_back(bq);
        set_output(n);
        return;
      }
      case OpType::Add: case OpType::Sub: case OpType::Mul: {
        ir::Value* a = in(0)->is_constant() ? const_q(in(0)) : get_q(in(0));
        ir::Value* b = in(1)->is_constant() ? const_q(in(1)) : get_q(in(1));
        if (!a || !b) return;
        n.inputs = {a, b};
        set_output(n);
        return;
      }
      case OpType::Relu: case OpType::Clip: case OpType::AveragePool: case OpType::GlobalAveragePool:
      case OpType::ReduceMean: case OpType::Activation: case OpType::Sigmoid: case OpType::Tanh: case OpType::HardSwish: case OpType::HardSigmoid: {
        ir::Value* xq = get_q(in(0));
        if (!xq) return;
        n.inputs = {xq};
        set_output(n);
        return;
      }
      default:
        status = TERN_ERROR(kInternal, "%s has no int8 form", n.label().c_str());
    }
  }
};

}  // namespace

Result<std::unique_ptr<ir::Graph>> build_quantized(const ir::Graph& src, const std::map<const ir::Value*, Range>& ranges,
                                                   const std::set<const ir::Node*>& int8_nodes, bool per_channel) {
  std::unordered_map<const ir::Value*, ir::Value*> vmap;
  std::unordered_map<const ir::Node*, ir::Node*> nmap;
  std::unique_ptr<ir::Graph> g = clone_graph(src, &vmap, &nmap);
  std::unordered_map<const ir::Value*, const ir::Value*> orig;
  for (auto& [o, c] : vmap) orig[c] = o;
  std::set<const ir::Node*> want;
  for (const ir::Node* n : int8_nodes) want.insert(nmap.at(n));
  Builder b{*g, ranges, orig, per_channel, {}, Status::ok()};
  std::vector<ir::Node*> order;
  for (auto& n : g->nodes()) order.push_back(n.get());
  for (ir::Node* n : order) {
    if (want.count(n)) {
      b.quantize_node(*n);
    } else if (is_passthrough(*n) && b.f2q.count(n->inputs[0])) {
      ir::Value* xq = b.f2q.at(n->inputs[0]);
      n->inputs[0] = xq;
      for (size_t i = 0; i < n->outputs.size(); ++i)  // (Split: several)
        if (n->outputs[i]) b.set_output(*n, &xq->q_scale[0], &xq->q_zero_point[0], i);
    }
    TERN_RETURN_IF_ERROR(b.status);
  }
  // Float consumers (and graph outputs) of values now produced in int8 read a DequantizeLinear.
  auto users = g->users();
  std::vector<ir::Value*> values;
  for (const auto& v : g->values()) values.push_back(v.get());
  for (ir::Value* f : values) {
    auto it = b.f2q.find(f);
    if (it == b.f2q.end()) continue;
    ir::Value* q = it->second;
    if (f->producer) continue;  // still produced in float (the int8 copy came from a QuantizeLinear)
    if (users[f].empty() && !f->is_graph_output) continue;
    b.new_node(f->name + "_dequantize", OpType::DequantizeLinear, q, f);
  }
  TERN_RETURN_IF_ERROR(g->toposort());
  g->remove_dead();
  TERN_RETURN_IF_ERROR(verify_graph(*g));
  return g;
}

}  // namespace tern::compiler::quant
