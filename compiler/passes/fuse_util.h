// Pattern-matching helpers shared by the fusion passes (compiler/passes/fuse_*.cpp).
//
// Every fusion follows one discipline: a match starts at an anchor node, walks producers and users
// through values that are "internal" to the match (read only by nodes of the match, not a graph
// output), and the rewrite turns the LAST node of the match into the fused node in place, so its
// output value (name, consumers, graph-output status) survives and topological order holds (every
// input of the fused node is defined before that node). The other matched nodes are erased.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ops/op_defs.h"
#include "passes/pass.h"

namespace tern::compiler::fuse {

class Rewriter {
 public:
  explicit Rewriter(ir::Graph& g) : g_(g), users_(g.users()) {}

  ir::Graph& graph() { return g_; }

  // Runs `try_at` on every node until it reports no more rewrites; each successful rewrite (true)
  // erases the nodes it killed and restarts the scan with fresh use lists. Returns the count.
  uint32_t run(const std::function<bool(ir::Node&)>& try_at) {
    uint32_t count = 0;
    for (bool again = true; again;) {
      again = false;
      for (size_t i = 0; i < g_.nodes().size(); ++i) {
        if (!try_at(*g_.nodes()[i])) continue;
        ++count;
        commit();
        again = true;
        break;
      }
    }
    return count;
  }

  const std::vector<ir::Node*>& users(const ir::Value* v) const {
    static const std::vector<ir::Node*> kNone;
    auto it = users_.find(v);
    return it == users_.end() ? kNone : it->second;
  }
  // The single node reading v, or nullptr (graph outputs have no single reader to fuse with).
  ir::Node* sole_user(const ir::Value* v) const {
    if (!v || v->is_graph_output) return nullptr;
    const auto& u = users(v);
    return u.size() == 1 ? u[0] : nullptr;
  }
  // v's producer when it is a lowered `op` node, else nullptr.
  static ir::Node* producer(const ir::Value* v, OpType op) {
    return v && v->producer && v->producer->lowered && v->producer->op == op ? v->producer : nullptr;
  }
  // True when every reader of v is one of `nodes` and v is not a graph output: the value may
  // disappear when those nodes are fused.
  bool internal(const ir::Value* v, std::initializer_list<const ir::Node*> nodes) const {
    if (!v || v->is_graph_output) return false;
    for (const ir::Node* u : users(v)) {
      bool in = false;
      for (const ir::Node* n : nodes) in |= u == n;
      if (!in) return false;
    }
    return true;
  }
  void kill(ir::Node* n) { dead_.push_back(n); }
  // A new constant value (float32) named after `base`.
  ir::Value* constant_f32(const std::string& base, const Shape& shape, const std::vector<float>& data) {
    std::vector<uint8_t> bytes(data.size() * sizeof(float));
    std::memcpy(bytes.data(), data.data(), bytes.size());
    return g_.add_constant(g_.unique_name(base), DType::Float32, shape, std::move(bytes));
  }

 private:
  void commit() {
    g_.erase_nodes(dead_);
    dead_.clear();
    users_ = g_.users();
  }
  ir::Graph& g_;
  std::unordered_map<const ir::Value*, std::vector<ir::Node*>> users_;
  std::vector<ir::Node*> dead_;
};

// The value of a constant whose elements are all equal (a scalar, or a broadcast [1,1] etc.).
inline bool const_scalar(const ir::Value* v, double* out) {
  if (!v || !v->is_constant() || v->shape.numel() < 1) return false;
  const int64_t n = v->shape.numel();
  auto at = [&](int64_t i) -> double {
    switch (v->dtype) {
      case DType::Float32: return v->as<float>()[i];
      case DType::Int64: return static_cast<double>(v->as<int64_t>()[i]);
      case DType::Int32: return v->as<int32_t>()[i];
      default: return NAN;
    }
  };
  double first = at(0);
  if (std::isnan(first)) return false;
  for (int64_t i = 1; i < n; ++i)
    if (at(i) != first) return false;
  *out = first;
  return true;
}

// True when v is a constant of all-equal elements within a relative `tol` of `want`.
inline bool const_near(const ir::Value* v, double want, double tol = 1e-5) {
  double c;
  return const_scalar(v, &c) && std::fabs(c - want) <= tol * std::max(1.0, std::fabs(want));
}

// For a commutative binary node with inputs (a, b): the input that is not `known`, or nullptr when
// neither is.
inline ir::Value* other_input(const ir::Node& n, const ir::Value* known) {
  if (n.inputs.size() != 2) return nullptr;
  if (n.inputs[0] == known) return n.inputs[1];
  if (n.inputs[1] == known) return n.inputs[0];
  return nullptr;
}

// For a binary node with one constant scalar input: the other input and the scalar.
inline bool split_scalar(const ir::Node& n, ir::Value** x, double* c, bool commutative = true) {
  if (n.inputs.size() != 2) return false;
  if (const_scalar(n.inputs[1], c) && !n.inputs[0]->is_constant()) {
    *x = n.inputs[0];
    return true;
  }
  if (commutative && const_scalar(n.inputs[0], c) && !n.inputs[1]->is_constant()) {
    *x = n.inputs[1];
    return true;
  }
  return false;
}

// Turns `n` into a lowered `op` node with the given options and inputs (its outputs unchanged).
template <typename T>
void become(ir::Node& n, OpType op, T options, std::vector<ir::Value*> inputs) {
  n.op = op;
  n.lowered = true;
  n.options.Set(std::move(options));
  n.inputs = std::move(inputs);
}

inline bool is_f32(const ir::Value* v) { return v && v->dtype == DType::Float32; }

// Turns `n` into a lowered `op` node without options.
inline void become_plain(ir::Node& n, OpType op, std::vector<ir::Value*> inputs) {
  n.op = op;
  n.lowered = true;
  n.options.Reset();
  n.inputs = std::move(inputs);
}

// Whether a node `op(options, inputs)` would infer exactly `out`'s dtype and shape: the safety net
// every fusion checks before it rewrites, so a pattern that matched on an unexpected shape is
// skipped instead of producing a wrong graph.
template <typename T>
bool infers_as(OpType op, const T& options, const std::vector<ir::Value*>& inputs, const ir::Value* out) {
  fb::NodeOptionsUnion u;
  u.Set(T(options));
  std::vector<TensorInfo> in(inputs.size());
  std::vector<const TensorInfo*> ptrs(inputs.size(), nullptr);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i]) {
      in[i] = inputs[i]->info();
      ptrs[i] = &in[i];
    }
  TensorInfo o;
  ops::InferContext ic;
  ic.node_name = "fusion candidate";
  ic.op = op;
  ic.options = &u;
  ic.inputs = ptrs;
  ic.outputs = std::span<TensorInfo>(&o, 1);
  if (!ops::infer_node(ic).is_ok()) return false;
  return o.dtype == out->dtype && o.shape == out->shape;
}

}  // namespace tern::compiler::fuse
