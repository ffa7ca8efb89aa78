// The compiler's intermediate representation: a graph of Values (tensors) and Nodes (ops).
//
// Values are in SSA form: each has at most one producer and is never modified in place. A Node
// starts as an imported ONNX node (onnx_type + attributes) and is "lowered" to a Tern OpType with
// typed options once its inputs' shapes and constant values are known (passes/infer_fold.cpp).
// The graph owns everything; raw pointers between Values and Nodes are stable for its lifetime.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace onnx {
class NodeProto;
}

namespace tern::ir {

struct Node;

struct Value {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  bool known = false;                    // dtype and shape are known
  std::vector<std::string> dim_params;   // graph inputs: symbolic dim names ("" = fixed); may be empty
  std::shared_ptr<const std::vector<uint8_t>> data;  // constant contents (row-major), if constant
  Node* producer = nullptr;
  bool is_graph_input = false;
  bool is_graph_output = false;
  // Quantization the plan records for an int8 value (compiler/quant/, docs/quantization-scheme.md):
  // real = q_scale * (q - q_zero_point); one entry = per tensor, else per channel along q_axis.
  std::vector<float> q_scale;
  std::vector<int64_t> q_zero_point;
  int q_axis = -1;

  bool is_constant() const { return data != nullptr; }
  size_t bytes() const { return static_cast<size_t>(shape.numel()) * dtype_size(dtype); }
  TensorInfo info() const { return {dtype, shape, data ? data->data() : nullptr}; }
  template <typename T> const T* as() const { return reinterpret_cast<const T*>(data->data()); }
};

struct Node {
  std::string name;
  // As imported (kept for lowering and for messages).
  std::string onnx_type;
  std::string onnx_domain;               // "" for the default domain
  std::shared_ptr<const onnx::NodeProto> proto;
  // After lowering.
  bool lowered = false;
  OpType op = OpType::Identity;
  fb::NodeOptionsUnion options;
  std::vector<Value*> inputs;            // nullptr: absent optional input
  std::vector<Value*> outputs;           // nullptr: absent optional output

  // "node 'name' (OnnxType)" or, once lowered, "(OpName)".
  std::string label() const;
};

class Graph {
 public:
  Value* add_value(const std::string& name);
  // A constant value holding `bytes` (copied).
  Value* add_constant(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes);
  Node* add_node(const std::string& name);
  // A unique name starting with `base`.
  std::string unique_name(const std::string& base);
  // Marks a name as taken (for values created later under it).
  void reserve_name(const std::string& name) { name_counts_[name]++; }

  std::vector<std::unique_ptr<Node>>& nodes() { return nodes_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;

  // Sorts nodes topologically (stable w.r.t. the current order); fails on a cycle.
  Status toposort();
  // Removes nodes no graph output depends on and values nothing references. Returns how many
  // nodes were removed.
  size_t remove_dead();
  // Replaces every use of `from` (node inputs and graph outputs) by `to`.
  void replace_uses(Value* from, Value* to);
  // Map from value to the nodes that read it (recomputed on each call).
  std::unordered_map<const Value*, std::vector<Node*>> users() const;
  // Erases the given nodes (their outputs become dangling: callers rewire first).
  void erase_nodes(const std::vector<Node*>& dead);

  int64_t opset = 0;         // default-domain opset
  std::string producer;      // producer_name + version
  std::string model_name;

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, int> name_counts_;
};

}  // namespace tern::ir
