// Activation: one of the schema's fused activations (GELU, GELUTanh, SiLU, HardSwish, ...) applied
// on its own, float32. The compiler creates it when it recognizes the decomposed form
// (compiler/passes/fuse_activation.cpp); the math is activation.h's, shared with the kernels that
// apply the same activation fused after their own result.
#include <algorithm>

#include "reference/kernel.h"
#include "reference/ops/activation.h"

namespace tern::ref {

Status activation(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference Activation computes float32 only", dtype_name(x.dtype));
  const ActivationParams act = activation_of(ctx.opts<fb::ActivationOptionsT>());
  const int64_t n = x.numel();
  const float* px = x.as<float>();
  float* py = y->as<float>();
  if (px != py) std::copy(px, px + n, py);
  activate_row(act, py, n);
  return Status::ok();
}

}  // namespace tern::ref
