// Lowering of imported ONNX nodes to Tern ops with typed options.
//
// Runs node by node in topological order once the node's inputs have known dtypes and shapes and,
// where constant, known contents: ONNX "parameter inputs" (Reshape's shape, Slice's starts, Pad's
// pads, Resize's sizes, Clip's bounds, ...) are resolved into options and dropped from the inputs,
// defaults are made explicit, negative axes made non-negative and auto_pad turned into pads, so
// that shape inference and kernels see one canonical form.
#pragma once

#include "core/status.h"
#include "ir/graph.h"

namespace tern::compiler {

Status lower_node(ir::Graph& g, ir::Node& n);

}  // namespace tern::compiler
