// Reference kernels: portable, straightforward C++ for every op and dtype. They define Tern's
// numerics: every other backend is tested against them.
//
// A kernel receives fully validated tensors (shape inference has run on the node, so shapes and
// dtypes agree with the op's rules) and must still never read or write outside them, whatever the
// data (e.g. Gather checks each index). Kernels do not allocate: a kernel that needs temporary
// memory declares it with a scratch function and gets it in `scratch`.
#pragma once

#include <cstddef>
#include <span>

#include "core/status.h"
#include "core/tensor.h"

namespace tern::ref {

struct KernelContext {
  const char* node_name = "";
  OpType op = OpType::Conv;
  const fb::NodeOptionsUnion* options = nullptr;
  std::span<const TensorRef* const> inputs;  // nullptr for an absent optional input
  std::span<const TensorRef* const> outputs;  // nullptr for an output the graph does not use
  void* scratch = nullptr;                    // at least scratch_bytes(ctx) bytes, 64-byte aligned
  int num_threads = 1;

  const TensorRef* in(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  const TensorRef* out(size_t i) const { return i < outputs.size() ? outputs[i] : nullptr; }
  template <typename T> const T& opts() const { return *static_cast<const T*>(options->value); }
  // kInvalidArgument / kUnsupported statuses prefixed with "node 'NAME' (Op): ".
  Status error(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));
  Status unsupported(const char* fmt, ...) const __attribute__((format(printf, 2, 3)));
};

using KernelFn = Status (*)(const KernelContext&);
using ScratchFn = size_t (*)(const KernelContext&);  // ctx.scratch is null when this is called

struct KernelEntry {
  KernelFn run = nullptr;
  ScratchFn scratch = nullptr;  // nullptr: needs no scratch
};

// The explicit kernel table (backends/reference/kernels.cpp). run == nullptr for ops without a
// reference kernel.
KernelEntry kernel_for(OpType op);

// Runs one node with its reference kernel, allocating scratch itself: for the compiler's constant
// folding and calibration, not for the runtime's hot path.
Status run_node_once(const KernelContext& ctx);

// Kernels, one declaration per op family; each is defined in backends/reference/ops/<family>.cpp.
Status conv(const KernelContext&);
size_t conv_scratch(const KernelContext&);      // channels_last only
Status conv_transpose(const KernelContext&);
size_t conv_transpose_scratch(const KernelContext&);
Status gemm(const KernelContext&);
Status matmul(const KernelContext&);
Status batch_norm(const KernelContext&);
Status layer_norm(const KernelContext&);
Status group_norm(const KernelContext&);        // GroupNormalization and InstanceNormalization
size_t group_norm_scratch(const KernelContext&);  // channels_last only
Status binary(const KernelContext&);            // Add Sub Mul Div Pow Min Max comparisons And Or
Status prelu(const KernelContext&);
Status unary(const KernelContext&);             // every unary elementwise op
Status softmax(const KernelContext&);           // Softmax and LogSoftmax
Status reduce(const KernelContext&);            // ReduceMean/Sum/Max/Min/Prod
Status arg_reduce(const KernelContext&);        // ArgMax, ArgMin
Status global_pool(const KernelContext&);       // GlobalAveragePool, GlobalMaxPool
Status pool(const KernelContext&);              // AveragePool, MaxPool
size_t pool_scratch(const KernelContext&);      // channels_last only
Status copy_reshape(const KernelContext&);      // Reshape Flatten Squeeze Unsqueeze Identity
Status transpose(const KernelContext&);
Status concat(const KernelContext&);
Status split(const KernelContext&);
Status slice(const KernelContext&);
Status gather(const KernelContext&);
Status expand(const KernelContext&);
Status tile(const KernelContext&);
Status pad(const KernelContext&);
Status resize(const KernelContext&);
Status cast(const KernelContext&);
Status where(const KernelContext&);
Status constant_of_shape(const KernelContext&);
Status shape(const KernelContext&);
Status range(const KernelContext&);
Status selective_scan(const KernelContext&);
size_t selective_scan_scratch(const KernelContext&);
Status lmu(const KernelContext&);
size_t lmu_scratch(const KernelContext&);
Status lif(const KernelContext&);
size_t lif_scratch(const KernelContext&);
// Ops created by the compiler's fusion passes.
Status activation(const KernelContext&);       // activation_op.cpp
Status rms_norm(const KernelContext&);
Status attention(const KernelContext&);
size_t attention_scratch(const KernelContext&);
// int8 kernels (docs/quantization-scheme.md), reached through q8_kernel_for (ops/dispatch_q8.cpp)
// when the first input is int8 with a Quantization.
KernelEntry q8_kernel_for(OpType op);  // {} for an op with no int8 form
Status quantize_linear(const KernelContext&);   // quant_q8.cpp
Status dequantize_linear(const KernelContext&);
Status conv_q8(const KernelContext&);
Status gemm_q8(const KernelContext&);           // gemm_q8.cpp
Status matmul_q8(const KernelContext&);
Status binary_q8(const KernelContext&);         // Add Sub Mul (binary_q8.cpp)
Status unary_q8(const KernelContext&);          // Relu Clip Activation Sigmoid Tanh HardSwish HardSigmoid
Status pool_q8(const KernelContext&);           // AveragePool GlobalAveragePool
Status attention_q8(const KernelContext&);      // attention_q8.cpp (no bias input)
size_t attention_q8_scratch(const KernelContext&);

}  // namespace tern::ref
