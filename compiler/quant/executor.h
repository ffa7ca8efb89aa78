// Runs an IR graph (lowered, shapes inferred) node by node with the reference kernels, keeping every
// value's buffer (no arena reuse), so that calibration can observe every activation and the
// quantizer can compare an int8 graph with the float one. Host-only; allocates once per graph.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace tern::compiler::quant {

class GraphExecutor {
 public:
  // The graph must outlive the executor and not change while it exists.
  explicit GraphExecutor(const ir::Graph& g);
  // Copies `inputs[i]` (bytes of graph input i, in g.inputs order) and runs every node.
  Status run(const std::vector<const void*>& inputs);
  // The buffer of a value after run(): constants point at their data.
  const void* data(const ir::Value* v) const;
  template <typename T> const T* as(const ir::Value* v) const { return static_cast<const T*>(data(v)); }

 private:
  struct Slot {
    std::vector<uint8_t> bytes;
    TensorRef ref;
    QuantParams quant;
  };
  struct Step {
    const ir::Node* node;
    std::vector<const TensorRef*> in, out;
  };
  const ir::Graph& g_;
  std::unordered_map<const ir::Value*, std::unique_ptr<Slot>> slots_;
  std::vector<Step> steps_;
  Slot* slot(const ir::Value* v);
};

}  // namespace tern::compiler::quant
