// ONNX import: parse a model file with libonnx's protobuf classes, validate it with the ONNX
// checker, fix symbolic input dims from --input-shape, and build the IR (unlowered nodes).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "ir/graph.h"

namespace tern::compiler {

struct InputShape {
  std::string name;
  std::vector<int64_t> dims;
};

// Parses "NAME=1x3x224x224" (dims separated by 'x' or ','); errors name the argument.
Result<InputShape> parse_input_shape(const std::string& arg);

struct ImportResult {
  std::unique_ptr<ir::Graph> graph;
  std::string sha256;         // hex digest of the file's bytes
  size_t file_bytes = 0;
};

Result<ImportResult> import_onnx(const std::string& path, const std::vector<InputShape>& input_shapes);

// Whether the lowering knows this ONNX op (domain "" or "ai.onnx" = default, "tern" = custom).
bool is_supported_onnx_op(const std::string& domain, const std::string& op_type);

}  // namespace tern::compiler
