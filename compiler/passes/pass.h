// Passes over the IR and the report each one leaves in the plan (`tern inspect` prints them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"

namespace tern::compiler {

struct PassReport {
  std::string name;      // e.g. "fold-constants"
  std::string pattern;   // what it matched
  uint32_t count = 0;    // times applied
  uint32_t nodes_before = 0;
  uint32_t nodes_after = 0;
};

struct PassLog {
  std::vector<PassReport> reports;
  void add(const std::string& name, const std::string& pattern, uint32_t count, size_t before, size_t after) {
    reports.push_back({name, pattern, count, static_cast<uint32_t>(before), static_cast<uint32_t>(after)});
  }
};

// Lowers every node to a Tern op, infers every value's dtype and shape (through custom ops too),
// and folds nodes whose inputs are all constant (the Shape/Gather/Concat chains exporters emit).
Status infer_and_fold(ir::Graph& g, PassLog& log);

// Reshape-like ops (Flatten, Squeeze, Unsqueeze, Identity) become Reshape; chains of reshapes
// collapse; reshapes to the same shape and Identities disappear; unused optional outputs are dropped.
Status canonicalize(ir::Graph& g, PassLog& log);

// Removes nodes and values no graph output depends on.
Status eliminate_dead_code(ir::Graph& g, PassLog& log);

// Re-runs shape inference over a lowered graph (after a rewrite) and checks every recorded shape.
Status verify_graph(const ir::Graph& g);

}  // namespace tern::compiler
