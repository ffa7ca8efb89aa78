// The op table: for every OpType its name, arity, options type and shape/dtype inference.
//
// This one explicit table is shared by the compiler (shape inference while importing ONNX) and the
// runtime (re-checking every node of a loaded plan, so that a corrupted or hand-made plan can never
// make a kernel read or write outside its tensors). Inference functions are pure and never allocate
// on success; their errors name the node, the op and the shapes at fault.
#pragma once

#include <span>

#include "core/status.h"
#include "core/tensor.h"

namespace tern::ops {

// What inference sees of a node. inputs[i] is nullptr for an absent optional input.
struct InferContext {
  const char* node_name = "";
  OpType op = OpType::Conv;
  const fb::NodeOptionsUnion* options = nullptr;
  std::span<const TensorInfo* const> inputs;
  std::span<TensorInfo> outputs;

  // A kInvalidArgument status prefixed with "node 'NAME' (Op): ".
  Status error(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));
  // Same, code kUnsupported.
  Status unsupported(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));
  const TensorInfo* in(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  template <typename T> const T* opts() const;
};

using InferFn = Status (*)(const InferContext&);

struct OpDef {
  OpType op;
  const char* name;
  fb::NodeOptions options;  // the union member the node must carry (NONE: no options)
  int min_inputs, max_inputs;
  int min_outputs, max_outputs;
  InferFn infer;
};

// nullptr for a value outside the enum.
const OpDef* op_def(OpType op);
const char* op_name(OpType op);
// Lookup by name (as printed by op_name); nullptr if unknown.
const OpDef* op_def_by_name(const char* name);

// Checks arity and options type, then infers the outputs' dtypes and shapes.
Status infer_node(const InferContext& ctx);

// Numpy/ONNX multidirectional broadcast of two shapes.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out);

// Kind helpers used by passes and backends.
bool is_unary_elementwise(OpType op);
bool is_binary_elementwise(OpType op);
bool is_comparison(OpType op);  // binary ops with a Bool result
bool is_reshape_like(OpType op);  // output is the input's bytes with another shape

template <typename T> const T* InferContext::opts() const {
  return options ? static_cast<const T*>(options->value) : nullptr;
}

// Each family file defines its inference functions (runtime/ops/*.cpp).
Status infer_conv(const InferContext&);
Status infer_conv_transpose(const InferContext&);
Status infer_gemm(const InferContext&);
Status infer_matmul(const InferContext&);
Status infer_batch_norm(const InferContext&);
Status infer_layer_norm(const InferContext&);
Status infer_group_norm(const InferContext&);
Status infer_instance_norm(const InferContext&);
Status infer_binary(const InferContext&);
Status infer_unary(const InferContext&);
Status infer_softmax(const InferContext&);
Status infer_reduce(const InferContext&);
Status infer_arg(const InferContext&);
Status infer_global_pool(const InferContext&);
Status infer_pool(const InferContext&);
Status infer_reshape(const InferContext&);
Status infer_flatten(const InferContext&);
Status infer_squeeze(const InferContext&);
Status infer_unsqueeze(const InferContext&);
Status infer_identity(const InferContext&);
Status infer_transpose(const InferContext&);
Status infer_concat(const InferContext&);
Status infer_split(const InferContext&);
Status infer_slice(const InferContext&);
Status infer_gather(const InferContext&);
Status infer_expand(const InferContext&);
Status infer_tile(const InferContext&);
Status infer_pad(const InferContext&);
Status infer_resize(const InferContext&);
Status infer_cast(const InferContext&);
Status infer_where(const InferContext&);
Status infer_constant_of_shape(const InferContext&);
Status infer_shape(const InferContext&);
Status infer_range(const InferContext&);
Status infer_selective_scan(const InferContext&);
Status infer_lmu(const InferContext&);
Status infer_lif(const InferContext&);
Status infer_prelu(const InferContext&);
Status infer_activation(const InferContext&);  // infer_fused.cpp
Status infer_rms_norm(const InferContext&);
Status infer_attention(const InferContext&);
Status infer_quantize_linear(const InferContext&);    // infer_quant.cpp
Status infer_dequantize_linear(const InferContext&);

}  // namespace tern::ops
