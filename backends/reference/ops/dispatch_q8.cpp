// int8 dispatch: the ops that keep their OpType in an int8 plan (Conv, Gemm, MatMul, Add, Sub, Mul,
// Relu, Clip, Activation, Sigmoid, Tanh, HardSwish, HardSigmoid, AveragePool, GlobalAveragePool, ReduceMean, Attention) run
// their *_q8 kernel when the first input is an int8 tensor carrying a Quantization, and the float kernel otherwise. Decided per call from the tensors
// (the kernel table is keyed by op only); the check is two loads.
#include "reference/ops/q8_util.h"

namespace tern::ref {

namespace {

bool quantized(const KernelContext& c) { return has_quant(c.in(0)); }

Status conv_dispatch(const KernelContext& c) { return quantized(c) ? conv_q8(c) : conv(c); }
Status gemm_dispatch(const KernelContext& c) { return quantized(c) ? gemm_q8(c) : gemm(c); }
Status matmul_dispatch(const KernelContext& c) { return quantized(c) ? matmul_q8(c) : matmul(c); }
Status binary_dispatch(const KernelContext& c) { return quantized(c) ? binary_q8(c) : binary(c); }
Status unary_dispatch(const KernelContext& c) { return quantized(c) ? unary_q8(c) : unary(c); }
Status activation_dispatch(const KernelContext& c) { return quantized(c) ? unary_q8(c) : activation(c); }
Status pool_dispatch(const KernelContext& c) { return quantized(c) ? pool_q8(c) : pool(c); }
Status global_pool_dispatch(const KernelContext& c) { return quantized(c) ? pool_q8(c) : global_pool(c); }
Status reduce_mean_dispatch(const KernelContext& c) { return quantized(c) ? pool_q8(c) : reduce(c); }
Status attention_dispatch(const KernelContext& c) { return quantized(c) ? attention_q8(c) : attention(c); }
size_t attention_dispatch_scratch(const KernelContext& c) {
  return quantized(c) ? attention_q8_scratch(c) : attention_scratch(c);
}

}  // namespace

KernelEntry q8_kernel_for(OpType op) {
  switch (op) {
    case OpType::Conv: return {conv_dispatch, conv_scratch};  // scratch: channels_last only
    case OpType::Gemm: return {gemm_dispatch, nullptr};
    case OpType::MatMul: return {matmul_dispatch, nullptr};
    case OpType::Add: case OpType::Sub: case OpType::Mul: return {binary_dispatch, nullptr};
    case OpType::Relu: case OpType::Clip: case OpType::Sigmoid: case OpType::Tanh: case OpType::HardSwish:
    case OpType::HardSigmoid: return {unary_dispatch, nullptr};
    case OpType::Activation: return {activation_dispatch, nullptr};
    case OpType::AveragePool: return {pool_dispatch, pool_scratch};  // scratch: channels_last only
    case OpType::GlobalAveragePool: return {global_pool_dispatch, nullptr};
    case OpType::ReduceMean: return {reduce_mean_dispatch, nullptr};  // int8: NHWC global pool
    case OpType::Attention: return {attention_dispatch, attention_dispatch_scratch};
    case OpType::QuantizeLinear: return {quantize_linear, nullptr};
    case OpType::DequantizeLinear: return {dequantize_linear, nullptr};
    default: return {};
  }
}

}  // namespace tern::ref
