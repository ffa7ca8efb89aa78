// Static memory planning: every non-constant tensor gets an offset in one arena, chosen so that
// tensors alive at the same time never overlap.
//
// Lifetimes are measured in node steps. Graph inputs and outputs live for the whole run (inputs
// so a plan can be re-run on the same inputs, outputs so they can be read after it). A reshape's
// output shares its input's storage (the bytes are the same), so reshapes cost no memory or copy.
// Placement is greedy by size (largest first, lowest offset that fits), which is what TFLite
// found to work best for inference graphs.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "ir/graph.h"

namespace tern::compiler {

struct MemoryPlan {
  std::unordered_map<const ir::Value*, uint64_t> offset;
  uint64_t arena_size = 0;
  uint64_t naive_size = 0;  // sum of all tensors (what no reuse would need), for the report
};

constexpr uint64_t kTensorAlignment = 64;

MemoryPlan plan_memory(const ir::Graph& g);

}  // namespace tern::compiler
