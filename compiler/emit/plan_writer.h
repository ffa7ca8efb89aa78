// Serializes a compiled graph into a plan file (schemas/plan.fbs + the container of
// runtime/core/plan_format.h).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"
#include "passes/pass.h"
#include "plan/memory_planner.h"

namespace tern::compiler {

struct PartitionSpec {
  std::string backend;
  uint32_t first_node = 0, num_nodes = 0;
  std::string reason;
  bool fp16_storage = false;  // Vulkan: float32 tensors stored as float16 on the device (--fp16)
};

// Constant data packed for a CPU kernel at compile time (`--prepack`; plan PackedConstant).
struct PrepackedBlob {
  uint32_t node = 0;  // index into the plan's nodes (= the graph's node order)
  std::string layout;
  std::vector<uint8_t> bytes;
};

struct EmitInfo {
  std::string compiler_version;
  std::string source_name;
  std::string source_sha256;
  std::vector<std::string> input_shapes;
  std::vector<PartitionSpec> partitions;  // empty: one "cpu" partition
  std::vector<PrepackedBlob> packed;      // written as a second constant segment
};

// Builds the plan bytes in memory.
Result<std::vector<uint8_t>> build_plan(const ir::Graph& g, const MemoryPlan& mp, const PassLog& log, const EmitInfo& info);
// Writes them atomically (temporary file + rename) so a failed write never leaves half a plan.
Status write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace tern::compiler
