// Runs an IR graph (lowered, shapes inferred) node by node, keeping every value's buffer (no arena
// reuse), so that calibration can observe every activation and the quantizer can compare an int8
// graph with the float one. Host-only; allocates once per graph.
//
// Engine::Reference calls the reference kernels (the numerics ground truth). Engine::Cpu prepares
// the whole graph once on the CPU backend (XNNPACK / SIMD kernels, the reference ones for the
// rest): its float kernels agree with the reference within rounding and its int8 kernels bit for
// bit, and it is what makes calibrating a 224x224 ViT on hundreds of samples take minutes, not
// hours. Cpu falls back to Reference in a build without the CPU backend.
#pragma once

#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "backend.h"
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace tern::compiler::quant {

class GraphExecutor {
 public:
  // The graph must outlive the executor and not change while it exists.
  enum class Engine { Reference, Cpu };
  // outputs_only: only the graph outputs are read after run() (the quantizer's evaluations), so
  // values share one arena laid out by the memory planner as a plan's are: the working set stays
  // in cache instead of streaming every value's own buffer (tens of MB for a 224x224 model).
  explicit GraphExecutor(const ir::Graph& g, Engine engine = Engine::Reference, int threads = 1, bool outputs_only = false);
  ~GraphExecutor();
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
  Engine engine_;
  int threads_;
  // Engine::Cpu: the backend, the tensors and nodes it sees, and its prepared executable (made on
  // the first run, so that a preparation error is reported by run()).
  std::unique_ptr<Backend> backend_;
  std::vector<TensorRef> tensors_;
  std::vector<uint8_t> is_constant_;
  std::vector<std::vector<int32_t>> node_io_;
  std::vector<NodeView> views_;
  std::vector<int32_t> graph_inputs_, all_tensors_;
  std::unique_ptr<Executable> exe_;
  Status prepare_cpu();
  std::unordered_map<const ir::Value*, std::unique_ptr<Slot>> slots_;
  std::unordered_map<const ir::Value*, uint64_t> arena_offset_;  // outputs_only: each value's place
  std::unique_ptr<uint8_t, void (*)(void*)> arena_{nullptr, &std::free};
  std::vector<Step> steps_;
  Slot* slot(const ir::Value* v);
};

}  // namespace tern::compiler::quant
