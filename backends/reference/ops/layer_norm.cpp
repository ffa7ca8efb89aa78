// LayerNormalization (ONNX opset 17 semantics, float32): each row of the trailing axes
// [axis, rank) is normalized with its own mean and variance (epsilon inside the square root), then
// scaled and shifted by scale / B broadcast to the normalized shape. The optional outputs Mean and
// InvStdDev (1 / sqrt(var + epsilon)) get one value per row.
//
// Mean and variance take two passes over the row (moments_f32 in reduce_lanes.h): the one-pass
// E[x^2] - E[x]^2 loses everything to cancellation on rows with a large mean.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reference/kernel.h"
#include "reference/ops/reduce_lanes.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status layer_norm(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& scale = *ctx.in(1);
  const TensorRef* bias = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  const TensorRef* mean_out = ctx.out(1);
  const TensorRef* inv_out = ctx.out(2);
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference LayerNormalization computes float32 only", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::NormOptionsT>();
  Shape inner_shape;
  inner_shape.rank = x.shape.rank - o.axis;
  for (int i = 0; i < inner_shape.rank; ++i) inner_shape[i] = x.shape[o.axis + i];
  const int64_t inner = inner_shape.numel();
  if (inner == 0) {
    // No elements to normalize: Y is empty; the statistics of an empty row are NaN (0 / 0).
    for (const TensorRef* t : {mean_out, inv_out})
      if (t) std::fill(t->as<float>(), t->as<float>() + t->numel(), std::numeric_limits<float>::quiet_NaN());
    return Status::ok();
  }
  const int64_t rows = x.numel() / inner;

  // scale / B of the full normalized shape index directly; smaller ones (broadcast) go through
  // per-element offsets.
  const float* ps = scale.as<float>();
  const float* pb = bias ? bias->as<float>() : nullptr;
  const bool direct = scale.numel() == inner && (!bias || bias->numel() == inner);
  const Shape* params[2] = {&scale.shape, bias ? &bias->shape : &scale.shape};
  const float* px = x.as<float>();
  float* pmean = mean_out ? mean_out->as<float>() : nullptr;
  float* pinv = inv_out ? inv_out->as<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = px + r * inner;
    const Moments mo = moments_f32(xr, inner);
    const float hi = mo.mean_hi, lo = mo.mean_lo;
    const float inv = static_cast<float>(1.0 / std::sqrt(mo.var + static_cast<double>(o.epsilon)));
    if (pmean) pmean[r] = hi + lo;
    if (pinv) pinv[r] = inv;
    if (!y) continue;
    float* yr = y->as<float>() + r * inner;
    if (direct) {
      if (pb) {
        for (int64_t i = 0; i < inner; ++i) yr[i] = ((xr[i] - hi) - lo) * inv * ps[i] + pb[i];
      } else {
        for (int64_t i = 0; i < inner; ++i) yr[i] = ((xr[i] - hi) - lo) * inv * ps[i];
      }
    } else {
      for_each_broadcast<2>(inner_shape, params, [&](int64_t i, int64_t is, int64_t ib, int64_t) {
        yr[i] = ((xr[i] - hi) - lo) * inv * ps[is] + (pb ? pb[ib] : 0.0f);
      });
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
