// The CPU kernel table: which nodes get a specialized kernel. Everything else falls back to the
// reference kernels.
#include "cpu/cpu_kernel.h"
#include "cpu/ops/q8_ops.h"
#include "cpu/ops/simd_ops.h"
#include "cpu/ops/xnn_ops.h"

namespace tern::cpu {

Result<std::unique_ptr<CpuKernel>> create_kernel(const Context& ctx, const NodeView& node,
                                                 std::span<const TensorRef* const> inputs,
                                                 std::span<const TensorRef* const> outputs,
                                                 std::span<const uint8_t> is_constant) {
  // int8 nodes (an int8 first input with quantization parameters, as the reference dispatches):
  // Tern's int8 kernels (backends/cpu/ops/q8_*.cpp, bit-exact with the reference *_q8 kernels).
  if (q8_tensor(detail::at(inputs, 0)) || node.op == OpType::QuantizeLinear) {
    switch (node.op) {
      case OpType::Conv: return create_q8_conv(ctx, node, inputs, outputs, is_constant);
      case OpType::Gemm: return create_q8_gemm(ctx, node, inputs, outputs, is_constant);
      case OpType::MatMul: return create_q8_matmul(ctx, node, inputs, outputs, is_constant);
      case OpType::Add:
      case OpType::Sub:
      case OpType::Mul: return create_q8_binary(ctx, node, inputs, outputs, is_constant);
      case OpType::Relu:
      case OpType::Clip:
      case OpType::Activation:
      case OpType::Sigmoid:
      case OpType::Tanh:
      case OpType::HardSwish:
      case OpType::HardSigmoid: return create_q8_unary(ctx, node, inputs, outputs, is_constant);
      case OpType::QuantizeLinear: return create_q8_quantize(ctx, node, inputs, outputs, is_constant);
      case OpType::DequantizeLinear: return create_q8_dequantize(ctx, node, inputs, outputs, is_constant);
      case OpType::AveragePool:
      case OpType::GlobalAveragePool:
      case OpType::ReduceMean: return create_q8_pool(ctx, node, inputs, outputs, is_constant);
      case OpType::Attention: return create_q8_attention(ctx, node, inputs, outputs, is_constant);
      default: break;
    }
  }
  // Tern's own SIMD kernels (backends/cpu/ops, over backends/cpu/simd); each returns nullptr for
  // the cases it leaves to the reference.
  switch (node.op) {
    case OpType::LayerNormalization: return create_layer_norm(ctx, node, inputs, outputs, is_constant);
    case OpType::RMSNormalization: return create_rms_norm(ctx, node, inputs, outputs, is_constant);
    case OpType::GroupNormalization:
    case OpType::InstanceNormalization: return create_group_norm(ctx, node, inputs, outputs, is_constant);
    case OpType::Softmax:
    case OpType::LogSoftmax: return create_softmax(ctx, node, inputs, outputs, is_constant);
    case OpType::Activation: return create_activation(ctx, node, inputs, outputs, is_constant);
    case OpType::MatMul: {
      // Tern's GEMM (constant weights packed at prepare); XNNPACK's fully connected for what it leaves.
      TERN_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> mm, create_matmul_batched(ctx, node, inputs, outputs, is_constant));
      if (mm) return mm;
      return create_xnn_fully_connected(ctx, node, inputs, outputs, is_constant);
    }
    case OpType::Gemm: {  // Tern's GEMM (constant weights packed at prepare); XNNPACK below for the rest
      TERN_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> g, create_gemm_dense(ctx, node, inputs, outputs, is_constant));
      if (g) return g;
      break;
    }
    case OpType::Conv: {  // channels-last pointwise, or k x k with >= 64 outputs: Tern's GEMM; the rest: XNNPACK below
      TERN_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> pw, create_pointwise_conv(ctx, node, inputs, outputs, is_constant));
      if (pw) return pw;
      TERN_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> ic, create_im2col_conv(ctx, node, inputs, outputs, is_constant));
      if (ic) return ic;
      break;
    }
    case OpType::Attention: return create_attention(ctx, node, inputs, outputs, is_constant);
    case OpType::SelectiveScan: return create_selective_scan(ctx, node, inputs, outputs, is_constant);
    case OpType::LMU: return create_lmu(ctx, node, inputs, outputs, is_constant);
    case OpType::LIF: return create_lif(ctx, node, inputs, outputs, is_constant);
    default: break;
  }
  // XNNPACK (backends/cpu/ops/xnn_*.cpp); nullptr without XNNPACK or for a case it does not take.
  switch (node.op) {
    case OpType::Conv: return create_xnn_conv(ctx, node, inputs, outputs, is_constant);
    case OpType::Gemm: return create_xnn_fully_connected(ctx, node, inputs, outputs, is_constant);
    case OpType::AveragePool:
    case OpType::MaxPool:
    case OpType::GlobalAveragePool:
    case OpType::ReduceMean: return create_xnn_pool(ctx, node, inputs, outputs, is_constant);
    case OpType::Transpose: return create_channel_transpose(ctx, node, inputs, outputs, is_constant);
    case OpType::Add:
    case OpType::Sub:
    case OpType::Mul:
    case OpType::Div:
    case OpType::Min:
    case OpType::Max: return create_xnn_binary(ctx, node, inputs, outputs, is_constant);
    case OpType::Relu:
    case OpType::Clip:
    case OpType::HardSwish:
    case OpType::Abs:
    case OpType::Neg:
    case OpType::Floor:
    case OpType::Ceil:
    case OpType::Round:
    case OpType::Sqrt:
    case OpType::LeakyRelu:
    case OpType::Elu: return create_xnn_unary(ctx, node, inputs, outputs, is_constant);
    default: break;
  }
  return std::unique_ptr<CpuKernel>();
}

}  // namespace tern::cpu
