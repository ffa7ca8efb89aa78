// The quantization rewrite: a float graph + calibrated ranges + the set of nodes to run in int8 ->
// a new graph where those nodes take int8 tensors (weights folded to int8 per output channel, bias
// to int32), QuantizeLinear / DequantizeLinear at the edges of the float islands, and data-movement
// ops (Reshape, Transpose, Slice, MaxPool, GlobalMaxPool) carried through in int8 when their input
// already is. The float graph is left untouched (it is cloned), so the quantizer can build many
// candidates (sensitivity analysis) from one calibration.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "ir/graph.h"

namespace tern::compiler::quant {

struct Range {
  float lo = 0, hi = 0;
};

// Whether a node of the float graph can run in int8 (op, dtypes, constant weights, fused activation).
bool is_quantizable(const ir::Node& n);
// Data movement that keeps its input's quantization.
bool is_passthrough(const ir::Node& n);

// Deep copy (constant data is shared, immutable). *map: old value -> new value.
std::unique_ptr<ir::Graph> clone_graph(const ir::Graph& g, std::unordered_map<const ir::Value*, ir::Value*>* map,
                                       std::unordered_map<const ir::Node*, ir::Node*>* node_map);

// Builds the quantized graph. `ranges` covers every float activation value read or written by a
// node in `int8_nodes` (nodes of `g`). Fails with kInternal if the result does not verify.
Result<std::unique_ptr<ir::Graph>> build_quantized(const ir::Graph& g, const std::map<const ir::Value*, Range>& ranges,
                                                   const std::set<const ir::Node*>& int8_nodes, bool per_channel);

// Folds a Relu or Clip that alone reads the output of a Conv / Gemm / MatMul into that node's fused
// activation (so the int8 output range covers only what the activation lets through). Returns the
// number of nodes folded.
size_t fold_activations(ir::Graph& g);

// Splits a fused activation with no int8 form (SiLU, GELU, HardSwish, Sigmoid, ...) off its Conv /
// Gemm / MatMul into an Activation node, so the linear op can run in int8 (with its weights int8)
// and the activation becomes a small fp32 island. Same float numerics. Returns the count.
size_t unfuse_float_activations(ir::Graph& g);

}  // namespace tern::compiler::quant
