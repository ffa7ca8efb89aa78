// Conversions from ONNX protobuf tensors and attributes to Tern types.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace onnx {
class TensorProto;
class NodeProto;
class AttributeProto;
}  // namespace onnx

namespace tern::compiler {

struct ConstantData {
  DType dtype = DType::Float32;
  Shape shape;
  std::vector<uint8_t> bytes;
};

// ONNX TensorProto::DataType -> DType. float64 is narrowed to float32 (Tern computes in float32).
Result<DType> dtype_from_onnx(int onnx_type);
// The contents of a TensorProto (raw_data, typed fields or external data relative to base_dir).
Result<ConstantData> tensor_from_proto(const onnx::TensorProto& t, const std::string& base_dir);
// The value of a Constant node (value, value_float(s), value_int(s) attributes).
Result<ConstantData> constant_node_value(const onnx::NodeProto& n, const std::string& base_dir);

// Attribute access; `found` distinguishes an absent attribute from a default.
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name);
int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t dflt);
float attr_float(const onnx::NodeProto& n, const char* name, float dflt);
std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& dflt);
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const char* name);
std::vector<float> attr_floats(const onnx::NodeProto& n, const char* name);

}  // namespace tern::compiler
