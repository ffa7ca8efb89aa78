// The layout pass (CPU target): XNNPACK convolves and pools channels-last tensors, so maximal
// connected regions of NCHW Conv / pool / elementwise nodes are switched to [N, H, W, C] once, with
// explicit Transpose nodes only where a region meets the rest of the graph, instead of every
// kernel transposing its own input and output.
//
// A region grows from Conv / AveragePool / MaxPool "anchors" (4-D, float32, constant weights; 1-D
// Conv on 3-D [N, C, W] too, which becomes [N, W, C]) through nodes whose meaning does not depend
// on the layout once their operands (all of the region's rank) are permuted
// the same way: unary elementwise ops, fused activations, binary elementwise ops (a constant
// operand is permuted at compile time; broadcasting still lines up because every operand is
// permuted alike), GlobalAveragePool (which becomes ReduceMean over axes 1 and 2), group and
// instance normalization (channels_last, like Conv), and ops with
// an axis, axes or target shape that is remapped (Softmax, Split, Concat, keepdims reductions,
// Expand, tern.LIF's time axis: is_axis_op). A region is
// kept only when its edge transposes cost no more than what its anchors would otherwise transpose
// (two per anchor), so a lone elementwise op never gets wrapped in transposes.
//
// Conv and the pools carry channels_last = true (schemas/plan.fbs); their weights stay in ONNX
// order. Every value inside a region gets a new "<name>_nhwc" value with the permuted shape; the
// original value, when something outside still reads it (or it is a graph output), is recomputed
// by a Transpose back to NCHW, so names, consumers and graph outputs are unchanged.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "passes/pass.h"

namespace tern::compiler {

namespace {

// Channels-first <-> channels-last permutations by rank (3: [N, C, W] <-> [N, W, C]; 4: NCHW <-> NHWC).
constexpr int kToNhwc4[4] = {0, 2, 3, 1};
constexpr int kToNchw4[4] = {0, 3, 1, 2};
constexpr int kSwap3[3] = {0, 2, 1};
const int* to_nhwc(int rank) { return rank == 3 ? kSwap3 : kToNhwc4; }
const int* to_nchw(int rank) { return rank == 3 ? kSwap3 : kToNchw4; }

Shape permute(const Shape& s, const int* perm) {
  Shape r = s;
  for (int i = 0; i < s.rank; ++i) r[i] = s[perm[i]];
  return r;
}

bool is_f32_4d(const ir::Value* v) { return v && v->known && v->dtype == DType::Float32 && v->shape.rank == 4; }
// A float32 activation of a rank the pass handles (3-D only for 1-D Conv regions).
bool is_f32_3d_or_4d(const ir::Value* v) {
  return v && v->known && v->dtype == DType::Float32 && (v->shape.rank == 3 || v->shape.rank == 4);
}

bool is_unary_elementwise(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid: case OpType::HardSwish:
    case OpType::Tanh: case OpType::Erf: case OpType::Exp: case OpType::Log: case OpType::Sqrt: case OpType::Neg:
    case OpType::Abs: case OpType::Softplus: case OpType::Reciprocal: case OpType::LeakyRelu: case OpType::Elu:
    case OpType::Floor: case OpType::Ceil: case OpType::Round: case OpType::Sin: case OpType::Cos: case OpType::Sign:
    case OpType::Activation:
      return true;
    default: return false;
  }
}

bool is_binary_elementwise(OpType op) {
  switch (op) {
    case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div: case OpType::Pow: case OpType::Min:
    case OpType::Max:
      return true;
    default: return false;
  }
}

bool is_anchor(const ir::Node& n) {
  if (!n.lowered || n.inputs.empty() || n.outputs.empty() || !is_f32_3d_or_4d(n.inputs[0]) || !n.outputs[0] ||
      !is_f32_3d_or_4d(n.outputs[0]) || n.inputs[0]->shape.rank != n.outputs[0]->shape.rank)
    return false;
  if (n.op == OpType::Conv)
    return n.inputs.size() >= 2 && n.inputs[1] && n.inputs[1]->is_constant() && n.options.type == fb::NodeOptions::ConvOptions &&
           !static_cast<const fb::ConvOptionsT*>(n.options.value)->channels_last;
  if ((n.op == OpType::AveragePool || n.op == OpType::MaxPool) && is_f32_4d(n.outputs[0]))
    return n.options.type == fb::NodeOptions::PoolOptions && (n.outputs.size() == 1 || !n.outputs[1]) &&
           !static_cast<const fb::PoolOptionsT*>(n.options.value)->channels_last;
  return false;
}

// GroupNormalization / InstanceNormalization: channels_last in the schema (NormOptions), scale and
// bias stay [C].
bool is_group_norm(const ir::Node& n) { return n.op == OpType::GroupNormalization || n.op == OpType::InstanceNormalization; }

// Ops whose axis / axes / target shape option is remapped when their operands go channels-last
// (every activation operand and output of the region's rank): Softmax, LogSoftmax, Split and
// Concat (axis), Slice (its axes; Mamba's causal Conv1d trims its output with one), ReduceSum / ReduceMean / ReduceMax / ReduceMin with keepdims (axes), Expand
// (target shape), tern.LIF (time_axis; spiking models put one after every 1-D Conv). They let
// the token-mixing parts of hybrid ViTs (MobileViT v2's separable
// attention: Split, Softmax, broadcast Mul, ReduceSum, Expand between two pointwise convs) stay
// inside a region instead of costing a pair of transposes each.
bool is_axis_op(const ir::Node& n, int rank) {
  auto f32_rank = [&](const ir::Value* v) { return v && v->known && v->dtype == DType::Float32 && v->shape.rank == rank; };
  if (n.op == OpType::LIF) {
    // tern.LIF: elementwise over the neurons, a recurrence along time_axis; only without an initial
    // membrane state (v0, of a lower rank) and with the spikes as its one output.
    if (n.options.type != fb::NodeOptions::LIFOptions || n.inputs.empty() || !f32_rank(n.inputs[0])) return false;
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (n.inputs[i]) return false;
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (n.outputs[i]) return false;
    return !n.outputs.empty() && f32_rank(n.outputs[0]);
  }
  auto all_rank = [&](const std::vector<ir::Value*>& vs) {
    for (const ir::Value* v : vs)
      if (!v || !v->known || v->dtype != DType::Float32 || v->shape.rank != rank) return false;
    return !vs.empty();
  };
  if (!all_rank(n.outputs) || !all_rank(n.inputs)) return false;
  switch (n.op) {
    case OpType::Softmax: case OpType::LogSoftmax:
      return n.inputs.size() == 1 && n.options.type == fb::NodeOptions::AxisOptions;
    case OpType::Concat:
      return n.options.type == fb::NodeOptions::AxisOptions;
    case OpType::Split:
      return n.inputs.size() == 1 && n.options.type == fb::NodeOptions::SplitOptions;
    case OpType::Slice:
      return n.inputs.size() == 1 && n.options.type == fb::NodeOptions::SliceOptions;
    case OpType::ReduceSum: case OpType::ReduceMean: case OpType::ReduceMax: case OpType::ReduceMin:
      return n.inputs.size() == 1 && n.options.type == fb::NodeOptions::ReduceOptions &&
             static_cast<const fb::ReduceOptionsT*>(n.options.value)->keepdims;
    case OpType::Expand:
      return n.inputs.size() == 1 && n.options.type == fb::NodeOptions::ShapeListOptions &&
             static_cast<const fb::ShapeListOptionsT*>(n.options.value)->values.size() == static_cast<size_t>(rank);
    default: return false;
  }
}

// The channels-last position of channels-first axis `a` (negative: from the end).
int nhwc_axis(int a, int rank) {
  if (a < 0) a += rank;
  const int* p = to_nhwc(rank);
  for (int j = 0; j < rank; ++j)
    if (p[j] == a) return j;
  return a;
}

// Rewrites an axis op's option for channels-last operands (see is_axis_op).
void remap_axis_options(ir::Node& n, int rank) {
  switch (n.options.type) {
    case fb::NodeOptions::AxisOptions: {
      auto* o = static_cast<fb::AxisOptionsT*>(n.options.value);
      o->axis = nhwc_axis(o->axis, rank);
      break;
    }
    case fb::NodeOptions::SplitOptions: {
      auto* o = static_cast<fb::SplitOptionsT*>(n.options.value);
      o->axis = nhwc_axis(o->axis, rank);
      break;
    }
    case fb::NodeOptions::ReduceOptions: {
      auto* o = static_cast<fb::ReduceOptionsT*>(n.options.value);
      for (int& a : o->axes) a = nhwc_axis(a, rank);
      std::sort(o->axes.begin(), o->axes.end());
      break;
    }
    case fb::NodeOptions::SliceOptions: {
      auto* o = static_cast<fb::SliceOptionsT*>(n.options.value);
      for (int& a : o->axes) a = nhwc_axis(a, rank);
      break;
    }
    case fb::NodeOptions::LIFOptions: {
      auto* o = static_cast<fb::LIFOptionsT*>(n.options.value);
      o->time_axis = nhwc_axis(o->time_axis, rank);
      break;
    }
    case fb::NodeOptions::ShapeListOptions: {
      auto* o = static_cast<fb::ShapeListOptionsT*>(n.options.value);
      const std::vector<int64_t> v = o->values;
      const int* p = to_nhwc(rank);
      for (int i = 0; i < rank; ++i) o->values[static_cast<size_t>(i)] = v[static_cast<size_t>(p[i])];
      break;
    }
    default: break;
  }
}

bool is_candidate(const ir::Node& n) {
  if (!n.lowered || n.inputs.empty() || n.outputs.empty() || !is_f32_3d_or_4d(n.outputs[0])) return false;
  const int rank = n.outputs[0]->shape.rank;  // every activation operand has the region's rank
  if (is_axis_op(n, rank)) return true;
  if (n.outputs.size() != 1) return false;
  if (is_anchor(n)) return true;
  if (n.op == OpType::GlobalAveragePool) return rank == 4 && is_f32_4d(n.inputs[0]);
  if (is_group_norm(n))
    return n.inputs.size() == 3 && is_f32_3d_or_4d(n.inputs[0]) && n.inputs[0]->shape.rank == rank &&
           n.options.type == fb::NodeOptions::NormOptions && !static_cast<const fb::NormOptionsT*>(n.options.value)->channels_last;
  if (is_unary_elementwise(n.op))
    return n.inputs.size() == 1 && is_f32_3d_or_4d(n.inputs[0]) && n.inputs[0]->shape.rank == rank;
  if (is_binary_elementwise(n.op)) {
    if (n.inputs.size() != 2) return false;
    for (const ir::Value* v : n.inputs) {
      if (!v || !v->known || v->dtype != DType::Float32) return false;
      if (v->is_constant() ? v->shape.rank > rank : v->shape.rank != rank) return false;
    }
    return true;
  }
  return false;
}

// Inputs of `n` that carry activations in its layout (Conv's weights and bias, a group norm's
// per-channel scale and bias do not).
size_t layout_inputs(const ir::Node& n) { return n.op == OpType::Conv || is_group_norm(n) ? 1 : n.inputs.size(); }

struct UnionFind {
  std::vector<size_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  size_t find(size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(size_t a, size_t b) { parent[find(a)] = find(b); }
};

// A constant of rank <= `rank` (3 or 4), right-aligned to `rank` and permuted to channels-last.
ir::Value* permuted_constant(ir::Graph& g, const ir::Value* c, int rank) {
  Shape s4;
  s4.rank = 4;
  const int pad = 4 - c->shape.rank;
  for (int i = 0; i < 4; ++i) s4[i] = i < pad ? 1 : c->shape[i - pad];
  // Rank 3 [N, C, W] is rank 4 [N, C, 1, W]: the same loops below, then the unit H dim dropped.
  if (rank == 3) {
    s4[0] = c->shape.rank >= 3 ? c->shape[c->shape.rank - 3] : 1;
    s4[1] = c->shape.rank >= 2 ? c->shape[c->shape.rank - 2] : 1;
    s4[2] = 1;
    s4[3] = c->shape.rank >= 1 ? c->shape[c->shape.rank - 1] : 1;
  }
  const Shape out4 = permute(s4, kToNhwc4);
  const size_t elem = dtype_size(c->dtype);
  std::vector<uint8_t> bytes(c->bytes());
  const uint8_t* src = c->data->data();
  // out[a, b, d, e] = in[a, e, b, d] (in = [N, C, H, W], out = [N, H, W, C]).
  size_t o = 0;
  for (int64_t a = 0; a < out4[0]; ++a)
    for (int64_t h = 0; h < out4[1]; ++h)
      for (int64_t w = 0; w < out4[2]; ++w)
        for (int64_t ch = 0; ch < out4[3]; ++ch, o += elem) {
          const int64_t i = ((a * s4[1] + ch) * s4[2] + h) * s4[3] + w;
          std::memcpy(bytes.data() + o, src + static_cast<size_t>(i) * elem, elem);
        }
  Shape out = out4;
  if (rank == 3) {  // [N, 1, W, C] -> [N, W, C]
    out.rank = 3;
    out[1] = out4[2];
    out[2] = out4[3];
  }
  return g.add_constant(g.unique_name(c->name + "_nhwc"), c->dtype, out, std::move(bytes));
}

ir::Node* add_transpose(ir::Graph& g, ir::Value* in, ir::Value* out, const int* perm, int rank, const std::string& name) {
  ir::Node* t = g.add_node(g.unique_name(name));
  t->lowered = true;
  t->op = OpType::Transpose;
  fb::TransposeOptionsT o;
  o.perm.assign(perm, perm + rank);
  t->options.Set(std::move(o));
  t->inputs = {in};
  t->outputs = {out};
  out->producer = t;
  return t;
}

}  // namespace

Status layout_channels_last(ir::Graph& g, PassLog& log) {
  const size_t before = g.nodes().size();
  const auto users = g.users();
  std::vector<ir::Node*> nodes;
  for (auto& n : g.nodes()) nodes.push_back(n.get());
  std::unordered_map<const ir::Node*, size_t> index;
  for (size_t i = 0; i < nodes.size(); ++i) index[nodes[i]] = i;
  std::vector<bool> cand(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) cand[i] = is_candidate(*nodes[i]);

  UnionFind uf(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!cand[i]) continue;
    const ir::Node& n = *nodes[i];
    for (size_t k = 0; k < layout_inputs(n); ++k) {
      const ir::Value* v = n.inputs[k];
      if (!v || v->is_constant() || !v->producer || v->shape.rank != n.outputs[0]->shape.rank) continue;
      auto it = index.find(v->producer);
      if (it != index.end() && cand[it->second]) uf.unite(i, it->second);
    }
  }
  // Per region: anchors and edge transposes.
  std::unordered_map<size_t, std::vector<size_t>> regions;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (cand[i]) regions[uf.find(i)].push_back(i);

  uint32_t transposes = 0, converted = 0, kept_regions = 0;
  std::vector<size_t> roots;
  for (auto& [root, members] : regions) roots.push_back(root);
  std::sort(roots.begin(), roots.end());  // deterministic output
  for (size_t root : roots) {
    const std::vector<size_t>& members = regions[root];
    std::unordered_set<const ir::Node*> in_region;
    size_t anchors = 0;
    for (size_t i : members) {
      in_region.insert(nodes[i]);
      anchors += is_anchor(*nodes[i]);
    }
    if (!anchors) continue;
    const int rank = nodes[members[0]]->outputs[0]->shape.rank;  // one rank per region (see is_candidate)
    std::unordered_set<const ir::Value*> edge_in, edge_out;
    for (size_t i : members) {
      const ir::Node& n = *nodes[i];
      for (size_t k = 0; k < layout_inputs(n); ++k) {
        const ir::Value* v = n.inputs[k];
        if (v && !v->is_constant() && !in_region.count(v->producer)) edge_in.insert(v);
      }
      for (const ir::Value* out : n.outputs) {
        if (!out) continue;
        bool external = out->is_graph_output;
        auto it = users.find(out);
        if (it != users.end())
          for (const ir::Node* u : it->second) external |= !in_region.count(u);
        if (external) edge_out.insert(out);
      }
    }
    if (edge_in.size() + edge_out.size() > 2 * anchors) continue;
    ++kept_regions;

    // Rewrite: new channels-last values for everything produced inside.
    std::unordered_map<const ir::Value*, ir::Value*> nhwc;
    for (size_t i : members) {
      ir::Node& n = *nodes[i];
      for (ir::Value*& out : n.outputs) {
        if (!out) continue;  // an absent optional output
        ir::Value* old = out;
        ir::Value* v = g.add_value(g.unique_name(old->name + "_nhwc"));
        v->dtype = old->dtype;
        v->shape = permute(old->shape, to_nhwc(rank));
        v->known = true;
        v->producer = &n;
        out = v;
        old->producer = nullptr;
        nhwc[old] = v;
        if (edge_out.count(old)) {
          add_transpose(g, v, old, to_nchw(rank), rank, old->name + "_to_nchw");
          ++transposes;
        }
      }
    }
    std::unordered_map<const ir::Value*, ir::Value*> consts;
    for (size_t i : members) {
      ir::Node& n = *nodes[i];
      const bool axis_op = is_axis_op(n, rank);  // before its inputs change (ranks stay)
      for (size_t k = 0; k < layout_inputs(n); ++k) {
        ir::Value* v = n.inputs[k];
        if (!v) continue;
        if (auto it = nhwc.find(v); it != nhwc.end()) {
          n.inputs[k] = it->second;
        } else if (v->is_constant()) {
          auto [it2, fresh] = consts.try_emplace(v, nullptr);
          if (fresh) it2->second = permuted_constant(g, v, rank);
          n.inputs[k] = it2->second;
        } else {
          ir::Value* t = g.add_value(g.unique_name(v->name + "_nhwc"));
          t->dtype = v->dtype;
          t->shape = permute(v->shape, to_nhwc(rank));
          t->known = true;
          add_transpose(g, v, t, to_nhwc(rank), rank, v->name + "_to_nhwc");
          ++transposes;
          nhwc[v] = t;
          n.inputs[k] = t;
        }
      }
      if (n.op == OpType::Conv) static_cast<fb::ConvOptionsT*>(n.options.value)->channels_last = true;
      if (n.op == OpType::AveragePool || n.op == OpType::MaxPool)
        static_cast<fb::PoolOptionsT*>(n.options.value)->channels_last = true;
      if (is_group_norm(n)) static_cast<fb::NormOptionsT*>(n.options.value)->channels_last = true;
      if (axis_op) remap_axis_options(n, rank);
      if (n.op == OpType::GlobalAveragePool) {
        fb::ReduceOptionsT o;
        o.axes = {1, 2};
        o.keepdims = true;
        n.op = OpType::ReduceMean;
        n.options.Set(std::move(o));
      }
      ++converted;
    }
  }
  // New Transposes were appended: order first (remove_dead walks the nodes backwards in order).
  TERN_RETURN_IF_ERROR(g.toposort());
  g.remove_dead();
  log.add("layout-nhwc",
          std::to_string(kept_regions) + " NCHW Conv/pool/elementwise regions (" + std::to_string(converted) +
              " nodes) -> channels-last; count = Transposes inserted at region edges",
          transposes, before, g.nodes().size());
  return Status::ok();
}

}  // namespace tern::compiler
