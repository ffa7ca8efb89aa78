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

// Fusion passes (compiler/passes/fuse_*.cpp), in the order compile_graph runs them. Each matches
// only where every intermediate value has no reader outside the pattern and is not a graph output,
// rewrites in place, and logs one PassReport per pattern.
// Reshape/Transpose chains -> at most Reshape-Transpose-Reshape (fuse_shuffle.cpp).
Status simplify_shuffles(ir::Graph& g, PassLog& log);
// Decomposed LayerNorm / RMSNorm -> LayerNormalization / RMSNormalization (fuse_norm.cpp).
Status fuse_normalizations(ir::Graph& g, PassLog& log);
// Erf/tanh GELU, SiLU, HardSwish decompositions -> Activation (fuse_activation.cpp).
Status fuse_activations(ir::Graph& g, PassLog& log);
// Scaled-dot-product attention -> Attention (fuse_attention.cpp).
Status fuse_attention(ir::Graph& g, PassLog& log);
// BatchNormalization folded into Conv/Gemm/MatMul, or turned into Mul + Add (fuse_linear.cpp).
Status fuse_batch_norms(ir::Graph& g, PassLog& log);
// Conv/Gemm/MatMul + Mul(constant per output channel) -> scaled weights (fuse_linear.cpp).
Status fuse_channel_scales(ir::Graph& g, PassLog& log);
// MatMul/Gemm + Add(constant bias) -> MatMul/Gemm with bias (fuse_linear.cpp).
Status fuse_linear_bias(ir::Graph& g, PassLog& log);
// Relu/Clip/Sigmoid/Tanh/HardSigmoid/HardSwish/Activation after Conv/Gemm/MatMul -> the producer's
// fused activation (fuse_activation.cpp).
Status fuse_activation_into_producers(ir::Graph& g, PassLog& log);
// All of the above, in order.
Status run_fusion_passes(ir::Graph& g, PassLog& log);

// CPU target: NCHW Conv/pool/elementwise regions -> channels-last, with Transposes at the region
// edges only (compiler/passes/layout.cpp).
Status layout_channels_last(ir::Graph& g, PassLog& log);

// Removes nodes and values no graph output depends on.
Status eliminate_dead_code(ir::Graph& g, PassLog& log);

// Re-runs shape inference over a lowered graph (after a rewrite) and checks every recorded shape.
Status verify_graph(const ir::Graph& g);

}  // namespace tern::compiler
