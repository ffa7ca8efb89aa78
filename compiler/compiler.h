// The compiler driver: ONNX file -> IR -> passes -> memory plan -> plan file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"
#include "passes/pass.h"

namespace tern::compiler {

struct CompileOptions {
  std::string model_path;
  std::vector<std::string> input_shapes;  // "NAME=1x3x224x224"
  std::string target = "cpu";             // partitioning target
  bool fuse = true;                       // run the fusion passes (tern compile --no-fuse: false)
  bool layout = true;                     // CPU target: the channels-last layout pass (passes/layout.cpp)
  bool fp16 = false;                      // Vulkan target: float16 storage on the device (tern compile --fp16)
  // CPU target: store the CPU kernels' packed weights for this machine in the plan (emit/prepack.h).
  bool prepack = false;
};

struct Compiled {
  std::unique_ptr<ir::Graph> graph;
  PassLog log;
  std::string sha256;
  size_t onnx_bytes = 0;
};

// Imports and optimizes; the graph is ready for planning (or for the quantizer).
Result<Compiled> compile_graph(const CompileOptions& options);

struct PlanStats {
  size_t nodes = 0, tensors = 0;
  uint64_t arena_bytes = 0, naive_arena_bytes = 0, weight_bytes = 0, plan_bytes = 0;
};

// Plans memory and serializes.
Result<std::vector<uint8_t>> emit_plan(const Compiled& c, const CompileOptions& options, PlanStats* stats);

const char* compiler_version();

}  // namespace tern::compiler
