// RMSNormalization (float32): each row of the trailing axes [axis, rank) is divided by its root
// mean square, epsilon inside the square root, then multiplied by scale broadcast to the
// normalized shape:  y = x / sqrt(mean(x^2) + epsilon) * scale.
// The compiler creates it from the decomposed form exporters emit (Mamba's
// x * rsqrt(mean(x^2) + eps) * w; compiler/passes/fuse_norm.cpp). The sum of squares accumulates
// in double: rows are long (d_model) and the result must not depend on the summation order.
#include <cmath>

#include "reference/kernel.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status rms_norm(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& scale = *ctx.in(1);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference RMSNormalization computes float32 only", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::NormOptionsT>();
  Shape inner_shape;
  inner_shape.rank = x.shape.rank - o.axis;
  for (int i = 0; i < inner_shape.rank; ++i) inner_shape[i] = x.shape[o.axis + i];
  const int64_t inner = inner_shape.numel();
  if (inner == 0) return Status::ok();
  const int64_t rows = x.numel() / inner;
  const float* ps = scale.as<float>();
  const bool direct = scale.numel() == inner;
  const Shape* params[1] = {&scale.shape};
  const float* px = x.as<float>();
  float* py = y->as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = px + r * inner;
    float* yr = py + r * inner;
    double ss = 0;
    for (int64_t i = 0; i < inner; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(inner) + static_cast<double>(o.epsilon)));
    if (direct) {
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * inv * ps[i];
    } else {
      for_each_broadcast<1>(inner_shape, params, [&](int64_t i, int64_t is, int64_t, int64_t) { yr[i] = xr[i] * inv * ps[is]; });
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
