#include "ops/op_defs.h"

#include <cstdarg>
#include <cstring>

namespace tern::ops {

namespace {

using O = fb::NodeOptions;
constexpr int kMany = 1 << 20;

// The one list of ops. Order does not matter; lookup is by OpType.
const OpDef kOps[] = {
    {OpType::Conv, "Conv", O::ConvOptions, 2, 3, 1, 1, infer_conv},
    {OpType::ConvTranspose, "ConvTranspose", O::ConvTransposeOptions, 2, 3, 1, 1, infer_conv_transpose},
    {OpType::Gemm, "Gemm", O::GemmOptions, 2, 3, 1, 1, infer_gemm},
    {OpType::MatMul, "MatMul", O::MatMulOptions, 2, 3, 1, 1, infer_matmul},
    {OpType::BatchNormalization, "BatchNormalization", O::NormOptions, 5, 5, 1, 1, infer_batch_norm},
    {OpType::LayerNormalization, "LayerNormalization", O::NormOptions, 2, 3, 1, 3, infer_layer_norm},
    {OpType::GroupNormalization, "GroupNormalization", O::NormOptions, 3, 3, 1, 1, infer_group_norm},
    {OpType::InstanceNormalization, "InstanceNormalization", O::NormOptions, 3, 3, 1, 1, infer_instance_norm},
    {OpType::Add, "Add", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Sub, "Sub", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Mul, "Mul", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Div, "Div", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Pow, "Pow", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Min, "Min", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Max, "Max", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Equal, "Equal", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Less, "Less", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Greater, "Greater", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::LessOrEqual, "LessOrEqual", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::GreaterOrEqual, "GreaterOrEqual", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::And, "And", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::Or, "Or", O::NONE, 2, 2, 1, 1, infer_binary},
    {OpType::PRelu, "PRelu", O::NONE, 2, 2, 1, 1, infer_prelu},
    {OpType::Relu, "Relu", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Clip, "Clip", O::ClipOptions, 1, 1, 1, 1, infer_unary},
    {OpType::Sigmoid, "Sigmoid", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::HardSigmoid, "HardSigmoid", O::AlphaBetaOptions, 1, 1, 1, 1, infer_unary},
    {OpType::HardSwish, "HardSwish", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Tanh, "Tanh", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Erf, "Erf", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Exp, "Exp", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Log, "Log", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Sqrt, "Sqrt", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Neg, "Neg", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Abs, "Abs", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Softplus, "Softplus", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Reciprocal, "Reciprocal", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::LeakyRelu, "LeakyRelu", O::AlphaBetaOptions, 1, 1, 1, 1, infer_unary},
    {OpType::Elu, "Elu", O::AlphaBetaOptions, 1, 1, 1, 1, infer_unary},
    {OpType::Floor, "Floor", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Ceil, "Ceil", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Round, "Round", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Sin, "Sin", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Cos, "Cos", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Not, "Not", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Sign, "Sign", O::NONE, 1, 1, 1, 1, infer_unary},
    {OpType::Softmax, "Softmax", O::AxisOptions, 1, 1, 1, 1, infer_softmax},
    {OpType::LogSoftmax, "LogSoftmax", O::AxisOptions, 1, 1, 1, 1, infer_softmax},
    {OpType::ReduceMean, "ReduceMean", O::ReduceOptions, 1, 1, 1, 1, infer_reduce},
    {OpType::ReduceSum, "ReduceSum", O::ReduceOptions, 1, 1, 1, 1, infer_reduce},
    {OpType::ReduceMax, "ReduceMax", O::ReduceOptions, 1, 1, 1, 1, infer_reduce},
    {OpType::ReduceMin, "ReduceMin", O::ReduceOptions, 1, 1, 1, 1, infer_reduce},
    {OpType::ReduceProd, "ReduceProd", O::ReduceOptions, 1, 1, 1, 1, infer_reduce},
    {OpType::ArgMax, "ArgMax", O::ArgOptions, 1, 1, 1, 1, infer_arg},
    {OpType::ArgMin, "ArgMin", O::ArgOptions, 1, 1, 1, 1, infer_arg},
    {OpType::GlobalAveragePool, "GlobalAveragePool", O::NONE, 1, 1, 1, 1, infer_global_pool},
    {OpType::GlobalMaxPool, "GlobalMaxPool", O::NONE, 1, 1, 1, 1, infer_global_pool},
    {OpType::AveragePool, "AveragePool", O::PoolOptions, 1, 1, 1, 1, infer_pool},
    {OpType::MaxPool, "MaxPool", O::PoolOptions, 1, 1, 1, 1, infer_pool},
    {OpType::Reshape, "Reshape", O::ReshapeOptions, 1, 1, 1, 1, infer_reshape},
    {OpType::Flatten, "Flatten", O::AxisOptions, 1, 1, 1, 1, infer_flatten},
    {OpType::Squeeze, "Squeeze", O::AxesOptions, 1, 1, 1, 1, infer_squeeze},
    {OpType::Unsqueeze, "Unsqueeze", O::AxesOptions, 1, 1, 1, 1, infer_unsqueeze},
    {OpType::Identity, "Identity", O::NONE, 1, 1, 1, 1, infer_identity},
    {OpType::Transpose, "Transpose", O::TransposeOptions, 1, 1, 1, 1, infer_transpose},
    {OpType::Concat, "Concat", O::AxisOptions, 1, kMany, 1, 1, infer_concat},  // every input required
    {OpType::Split, "Split", O::SplitOptions, 1, 1, 1, kMany, infer_split},
    {OpType::Slice, "Slice", O::SliceOptions, 1, 1, 1, 1, infer_slice},
    {OpType::Gather, "Gather", O::AxisOptions, 2, 2, 1, 1, infer_gather},
    {OpType::Expand, "Expand", O::ShapeListOptions, 1, 1, 1, 1, infer_expand},
    {OpType::Tile, "Tile", O::ShapeListOptions, 1, 1, 1, 1, infer_tile},
    {OpType::Pad, "Pad", O::PadOptions, 1, 1, 1, 1, infer_pad},
    {OpType::Resize, "Resize", O::ResizeOptions, 1, 1, 1, 1, infer_resize},
    {OpType::Cast, "Cast", O::CastOptions, 1, 1, 1, 1, infer_cast},
    {OpType::Where, "Where", O::NONE, 3, 3, 1, 1, infer_where},
    {OpType::ConstantOfShape, "ConstantOfShape", O::FillOptions, 0, 0, 1, 1, infer_constant_of_shape},
    {OpType::Shape, "Shape", O::ShapeOptions, 1, 1, 1, 1, infer_shape},
    {OpType::Range, "Range", O::NONE, 3, 3, 1, 1, infer_range},
    {OpType::SelectiveScan, "SelectiveScan", O::SelectiveScanOptions, 5, 9, 1, 2, infer_selective_scan},
    {OpType::LMU, "LMU", O::NONE, 3, 4, 1, 2, infer_lmu},
    {OpType::LIF, "LIF", O::LIFOptions, 1, 2, 1, 2, infer_lif},
    // Created by the compiler's fusion passes only.
    {OpType::Activation, "Activation", O::ActivationOptions, 1, 1, 1, 1, infer_activation},
    {OpType::RMSNormalization, "RMSNormalization", O::NormOptions, 2, 2, 1, 1, infer_rms_norm},
    {OpType::Attention, "Attention", O::AttentionOptions, 3, 4, 1, 1, infer_attention},
    // int8 quantization edges (infer_quant.cpp; docs/quantization-scheme.md).
    {OpType::QuantizeLinear, "QuantizeLinear", O::NONE, 1, 1, 1, 1, infer_quantize_linear},
    {OpType::DequantizeLinear, "DequantizeLinear", O::NONE, 1, 1, 1, 1, infer_dequantize_linear},
};

constexpr size_t kNumOpTypes = static_cast<size_t>(fb::OpType::MAX) + 1;

struct Index {
  const OpDef* by_type[kNumOpTypes] = {};
  Index() {
    for (const OpDef& d : kOps) by_type[static_cast<size_t>(d.op)] = &d;
  }
};

const Index& index() {
  static const Index idx;
  return idx;
}

Status prefixed(const InferContext& c, StatusCode code, const char* fmt, va_list args) {
  std::string msg = str_format("node '%s' (%s): ", c.node_name, op_name(c.op));
  msg += str_vformat(fmt, args);
  return Status(code, std::move(msg));
}

}  // namespace

Status InferContext::error(const char* fmt, ...) const {
  va_list args;
  va_start(args, fmt);
  Status s = prefixed(*this, StatusCode::kInvalidArgument, fmt, args);
  va_end(args);
  return s;
}

Status InferContext::unsupported(const char* fmt, ...) const {
  va_list args;
  va_start(args, fmt);
  Status s = prefixed(*this, StatusCode::kUnsupported, fmt, args);
  va_end(args);
  return s;
}

const OpDef* op_def(OpType op) {
  size_t i = static_cast<size_t>(op);
  return i < kNumOpTypes ? index().by_type[i] : nullptr;
}

const char* op_name(OpType op) {
  const OpDef* d = op_def(op);
  return d ? d->name : "<unknown op>";
}

const OpDef* op_def_by_name(const char* name) {
  for (const OpDef& d : kOps)
    if (std::strcmp(d.name, name) == 0) return &d;
  return nullptr;
}

Status infer_node(const InferContext& ctx) {
  const OpDef* def = op_def(ctx.op);
  if (!def) return TERN_ERROR(kInvalidArgument, "node '%s': op type %d is not a known op", ctx.node_name,
                              static_cast<int>(ctx.op));
  int ni = static_cast<int>(ctx.inputs.size()), no = static_cast<int>(ctx.outputs.size());
  if (ni < def->min_inputs || ni > def->max_inputs)
    return ctx.error("has %d inputs; the op takes %d to %d", ni, def->min_inputs, def->max_inputs);
  if (no < def->min_outputs || no > def->max_outputs)
    return ctx.error("has %d outputs; the op produces %d to %d", no, def->min_outputs, def->max_outputs);
  fb::NodeOptions have = ctx.options ? ctx.options->type : fb::NodeOptions::NONE;
  if (have != def->options || (have != fb::NodeOptions::NONE && !ctx.options->value))
    return ctx.error("carries options '%s' but the op needs '%s'", fb::EnumNameNodeOptions(have),
                     fb::EnumNameNodeOptions(def->options));
  for (int i = 0; i < def->min_inputs; ++i)
    if (!ctx.inputs[static_cast<size_t>(i)])
      return ctx.error("required input %d is missing", i);
  for (int i = 0; i < ni; ++i) {
    const TensorInfo* t = ctx.inputs[static_cast<size_t>(i)];
    if (t && !dtype_valid(t->dtype)) return ctx.error("input %d has an invalid dtype", i);
    if (t && (t->shape.rank < 0 || t->shape.rank > kMaxRank))
      return ctx.error("input %d has rank %d; ranks 0 to %d are supported", i, t->shape.rank, kMaxRank);
    if (t)
      for (int d = 0; d < t->shape.rank; ++d)
        if (t->shape.dims[d] < 0) return ctx.error("input %d has a negative dimension (%s)", i, t->shape.str().c_str());
  }
  return def->infer(ctx);
}

bool broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
  Shape r;
  r.rank = a.rank > b.rank ? a.rank : b.rank;
  for (int i = 0; i < r.rank; ++i) {
    int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
    int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    if (da == db || db == 1) r.dims[i] = da;
    else if (da == 1) r.dims[i] = db;
    else return false;
  }
  *out = r;
  return true;
}

bool is_unary_elementwise(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid:
    case OpType::HardSwish: case OpType::Tanh: case OpType::Erf: case OpType::Exp: case OpType::Log:
    case OpType::Sqrt: case OpType::Neg: case OpType::Abs: case OpType::Softplus:
    case OpType::Reciprocal: case OpType::LeakyRelu: case OpType::Elu: case OpType::Floor:
    case OpType::Ceil: case OpType::Round: case OpType::Sin: case OpType::Cos: case OpType::Not:
    case OpType::Sign:
      return true;
    default:
      return false;
  }
}

bool is_comparison(OpType op) {
  switch (op) {
    case OpType::Equal: case OpType::Less: case OpType::Greater: case OpType::LessOrEqual:
    case OpType::GreaterOrEqual:
      return true;
    default:
      return false;
  }
}

bool is_binary_elementwise(OpType op) {
  switch (op) {
    case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div: case OpType::Pow:
    case OpType::Min: case OpType::Max: case OpType::And: case OpType::Or:
      return true;
    default:
      return is_comparison(op);
  }
}

bool is_reshape_like(OpType op) {
  return op == OpType::Reshape || op == OpType::Flatten || op == OpType::Squeeze ||
         op == OpType::Unsqueeze || op == OpType::Identity;
}

}  // namespace tern::ops
