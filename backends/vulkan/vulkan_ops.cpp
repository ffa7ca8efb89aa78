// The Vulkan op table: for each op, the family file that decides support and records it.
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {

constexpr OpEntry kOps[] = {
    {OpType::Conv, conv_supports, conv_record},
    {OpType::Gemm, matmul_supports, matmul_record},
    {OpType::MatMul, matmul_supports, matmul_record},
    {OpType::Attention, attention_supports, attention_record},
    // Elementwise: binary arithmetic, PRelu, unary ops, the fused Activation.
    {OpType::Add, elementwise_supports, elementwise_record},
    {OpType::Sub, elementwise_supports, elementwise_record},
    {OpType::Mul, elementwise_supports, elementwise_record},
    {OpType::Div, elementwise_supports, elementwise_record},
    {OpType::Pow, elementwise_supports, elementwise_record},
    {OpType::Min, elementwise_supports, elementwise_record},
    {OpType::Max, elementwise_supports, elementwise_record},
    {OpType::PRelu, elementwise_supports, elementwise_record},
    {OpType::Relu, elementwise_supports, elementwise_record},
    {OpType::Clip, elementwise_supports, elementwise_record},
    {OpType::Sigmoid, elementwise_supports, elementwise_record},
    {OpType::HardSigmoid, elementwise_supports, elementwise_record},
    {OpType::HardSwish, elementwise_supports, elementwise_record},
    {OpType::Tanh, elementwise_supports, elementwise_record},
    {OpType::Erf, elementwise_supports, elementwise_record},
    {OpType::Exp, elementwise_supports, elementwise_record},
    {OpType::Log, elementwise_supports, elementwise_record},
    {OpType::Sqrt, elementwise_supports, elementwise_record},
    {OpType::Neg, elementwise_supports, elementwise_record},
    {OpType::Abs, elementwise_supports, elementwise_record},
    {OpType::Softplus, elementwise_supports, elementwise_record},
    {OpType::Reciprocal, elementwise_supports, elementwise_record},
    {OpType::LeakyRelu, elementwise_supports, elementwise_record},
    {OpType::Elu, elementwise_supports, elementwise_record},
    {OpType::Floor, elementwise_supports, elementwise_record},
    {OpType::Ceil, elementwise_supports, elementwise_record},
    {OpType::Round, elementwise_supports, elementwise_record},
    {OpType::Sin, elementwise_supports, elementwise_record},
    {OpType::Cos, elementwise_supports, elementwise_record},
    {OpType::Sign, elementwise_supports, elementwise_record},
    {OpType::Activation, elementwise_supports, elementwise_record},
    {OpType::Softmax, softmax_supports, softmax_record},
    {OpType::LogSoftmax, softmax_supports, softmax_record},
    {OpType::BatchNormalization, norm_supports, norm_record},
    {OpType::LayerNormalization, norm_supports, norm_record},
    {OpType::GroupNormalization, norm_supports, norm_record},
    {OpType::InstanceNormalization, norm_supports, norm_record},
    {OpType::RMSNormalization, norm_supports, norm_record},
    {OpType::AveragePool, pool_supports, pool_record},
    {OpType::MaxPool, pool_supports, pool_record},
    {OpType::GlobalAveragePool, pool_supports, pool_record},
    {OpType::GlobalMaxPool, pool_supports, pool_record},
    {OpType::ReduceMean, reduce_supports, reduce_record},
    {OpType::ReduceSum, reduce_supports, reduce_record},
    {OpType::ReduceMax, reduce_supports, reduce_record},
    {OpType::ReduceMin, reduce_supports, reduce_record},
    {OpType::ReduceProd, reduce_supports, reduce_record},
    // Data movement.
    {OpType::Reshape, data_supports, data_record},
    {OpType::Flatten, data_supports, data_record},
    {OpType::Squeeze, data_supports, data_record},
    {OpType::Unsqueeze, data_supports, data_record},
    {OpType::Identity, data_supports, data_record},
    {OpType::Transpose, data_supports, data_record},
    {OpType::Concat, data_supports, data_record},
    {OpType::Split, data_supports, data_record},
    {OpType::Slice, data_supports, data_record},
    {OpType::Expand, data_supports, data_record},
    {OpType::Pad, data_supports, data_record},
    {OpType::Gather, gather_supports, gather_record},
    // tern ops.
    {OpType::SelectiveScan, tern_ops_supports, tern_ops_record},
    {OpType::LMU, tern_ops_supports, tern_ops_record},
    {OpType::LIF, tern_ops_supports, tern_ops_record},
};

// int8 kernels: the ops of the reference's q8_kernel_for (backends/reference/ops/dispatch_q8.cpp)
// plus MaxPool / GlobalMaxPool (the reference runs its float kernel on int8 values).
constexpr OpEntry kQ8Ops[] = {
    {OpType::Conv, q8_linear_supports, q8_linear_record},
    {OpType::Gemm, q8_linear_supports, q8_linear_record},
    {OpType::MatMul, q8_linear_supports, q8_linear_record},
    {OpType::Add, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Sub, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Mul, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Relu, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Clip, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Sigmoid, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Tanh, q8_elementwise_supports, q8_elementwise_record},
    {OpType::HardSwish, q8_elementwise_supports, q8_elementwise_record},
    {OpType::HardSigmoid, q8_elementwise_supports, q8_elementwise_record},
    {OpType::Activation, q8_elementwise_supports, q8_elementwise_record},
    {OpType::QuantizeLinear, q8_elementwise_supports, q8_elementwise_record},
    {OpType::DequantizeLinear, q8_elementwise_supports, q8_elementwise_record},
    {OpType::AveragePool, q8_pool_supports, q8_pool_record},
    {OpType::MaxPool, q8_pool_supports, q8_pool_record},
    {OpType::GlobalAveragePool, q8_pool_supports, q8_pool_record},
    {OpType::GlobalMaxPool, q8_pool_supports, q8_pool_record},
    {OpType::ReduceMean, q8_pool_supports, q8_pool_record},  // over one contiguous run of axes
};

}  // namespace

const OpEntry* op_entry(OpType op) {
  for (const OpEntry& e : kOps)
    if (e.op == op) return &e;
  return nullptr;
}

const OpEntry* entry_for(OpType op, DType in0) {
  if (in0 == DType::Int8 || op == OpType::QuantizeLinear || op == OpType::DequantizeLinear)
    for (const OpEntry& e : kQ8Ops)
      if (e.op == op) return &e;
  return op_entry(op);
}

bool is_int8_shader(const std::string& name) {
  return name.rfind("q8_", 0) == 0 || (name.size() > 3 && name.compare(name.size() - 3, 3, "_i8") == 0);
}

}  // namespace tern::vk
