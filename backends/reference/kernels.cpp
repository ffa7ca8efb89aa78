// The reference kernel table: one explicit entry per op (no static registration).
#include <cstdarg>
#include <cstdlib>
#include <memory>

#include "ops/op_defs.h"
#include "reference/kernel.h"

namespace tern::ref {

namespace {

Status prefixed(const KernelContext& c, StatusCode code, const char* fmt, va_list args) {
  std::string msg = str_format("node '%s' (%s): ", c.node_name, ops::op_name(c.op));
  msg += str_vformat(fmt, args);
  return Status(code, std::move(msg));
}

}  // namespace

Status KernelContext::error(const char* fmt, ...) const {
  va_list args;
  va_start(args, fmt);
  Status s = prefixed(*this, StatusCode::kInvalidArgument, fmt, args);
  va_end(args);
  return s;
}

Status KernelContext::unsupported(const char* fmt, ...) const {
  va_list args;
  va_start(args, fmt);
  Status s = prefixed(*this, StatusCode::kUnsupported, fmt, args);
  va_end(args);
  return s;
}

KernelEntry kernel_for(OpType op) {
  // Ops with an int8 form get a dispatcher that picks the int8 or float kernel per call.
  if (KernelEntry q = q8_kernel_for(op); q.run) return q;
  switch (op) {
    case OpType::Conv: return {conv, conv_scratch};
    case OpType::ConvTranspose: return {conv_transpose, conv_transpose_scratch};
    case OpType::Gemm: return {gemm, nullptr};
    case OpType::MatMul: return {matmul, nullptr};
    case OpType::BatchNormalization: return {batch_norm, nullptr};
    case OpType::LayerNormalization: return {layer_norm, nullptr};
    case OpType::GroupNormalization:
    case OpType::InstanceNormalization: return {group_norm, group_norm_scratch};
    case OpType::Add: case OpType::Sub: case OpType::Mul: case OpType::Div: case OpType::Pow:
    case OpType::Min: case OpType::Max: case OpType::Equal: case OpType::Less: case OpType::Greater:
    case OpType::LessOrEqual: case OpType::GreaterOrEqual: case OpType::And: case OpType::Or:
      return {binary, nullptr};
    case OpType::PRelu: return {prelu, nullptr};
    case OpType::Relu: case OpType::Clip: case OpType::Sigmoid: case OpType::HardSigmoid:
    case OpType::HardSwish: case OpType::Tanh: case OpType::Erf: case OpType::Exp: case OpType::Log:
    case OpType::Sqrt: case OpType::Neg: case OpType::Abs: case OpType::Softplus:
    case OpType::Reciprocal: case OpType::LeakyRelu: case OpType::Elu: case OpType::Floor:
    case OpType::Ceil: case OpType::Round: case OpType::Sin: case OpType::Cos: case OpType::Not:
    case OpType::Sign:
      return {unary, nullptr};
    case OpType::Softmax: case OpType::LogSoftmax: return {softmax, nullptr};
    case OpType::ReduceMean: case OpType::ReduceSum: case OpType::ReduceMax: case OpType::ReduceMin:
    case OpType::ReduceProd:
      return {reduce, nullptr};
    case OpType::ArgMax: case OpType::ArgMin: return {arg_reduce, nullptr};
    case OpType::GlobalAveragePool: case OpType::GlobalMaxPool: return {global_pool, nullptr};
    case OpType::AveragePool: case OpType::MaxPool: return {pool, pool_scratch};
    case OpType::Reshape: case OpType::Flatten: case OpType::Squeeze: case OpType::Unsqueeze:
    case OpType::Identity:
      return {copy_reshape, nullptr};
    case OpType::Transpose: return {transpose, nullptr};
    case OpType::Concat: return {concat, nullptr};
    case OpType::Split: return {split, nullptr};
    case OpType::Slice: return {slice, nullptr};
    case OpType::Gather: return {gather, nullptr};
    case OpType::Expand: return {expand, nullptr};
    case OpType::Tile: return {tile, nullptr};
    case OpType::Pad: return {pad, nullptr};
    case OpType::Resize: return {resize, nullptr};
    case OpType::Cast: return {cast, nullptr};
    case OpType::Where: return {where, nullptr};
    case OpType::ConstantOfShape: return {constant_of_shape, nullptr};
    case OpType::Shape: return {shape, nullptr};
    case OpType::Range: return {range, nullptr};
    case OpType::SelectiveScan: return {selective_scan, selective_scan_scratch};
    case OpType::LMU: return {lmu, lmu_scratch};
    case OpType::LIF: return {lif, lif_scratch};
    case OpType::Activation: return {activation, nullptr};
    case OpType::RMSNormalization: return {rms_norm, nullptr};
    case OpType::Attention: return {attention, attention_scratch};
    case OpType::QuantizeLinear: case OpType::DequantizeLinear: break;  // q8_kernel_for
  }
  return {};
}

Status run_node_once(const KernelContext& ctx) {
  KernelEntry k = kernel_for(ctx.op);
  if (!k.run) return ctx.unsupported("the reference backend has no kernel for this op");
  KernelContext c = ctx;
  std::unique_ptr<void, decltype(&std::free)> mem(nullptr, &std::free);
  if (k.scratch) {
    size_t bytes = k.scratch(ctx);
    if (bytes) {
      mem.reset(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
      if (!mem) return TERN_ERROR(kOutOfMemory, "node '%s': cannot allocate %zu bytes of scratch", ctx.node_name, bytes);
      c.scratch = mem.get();
    }
  }
  return k.run(c);
}

}  // namespace tern::ref
