// Shape inference: the int8 quantization edges. Scales and zero points live on the int8 tensor
// (Tensor.quantization), not in options: QuantizeLinear reads its output's, DequantizeLinear its
// input's. Inference only sees dtypes and shapes; the plan loader checks the Quantization itself.
#include "ops/op_defs.h"

namespace tern::ops {

Status infer_quantize_linear(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (x.dtype != DType::Float32) return c.unsupported("X is %s; QuantizeLinear takes float32", dtype_name(x.dtype));
  c.outputs[0] = {DType::Int8, x.shape, nullptr};
  return Status::ok();
}

Status infer_dequantize_linear(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (x.dtype != DType::Int8) return c.unsupported("X is %s; DequantizeLinear takes int8", dtype_name(x.dtype));
  c.outputs[0] = {DType::Float32, x.shape, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
