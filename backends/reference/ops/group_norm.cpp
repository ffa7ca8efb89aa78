// GroupNormalization and InstanceNormalization (ONNX semantics, float32). X is [N, C, spatial...];
// the C channels form num_groups groups of consecutive channels (InstanceNormalization: one group
// per channel), each normalized over its channels and spatial positions with its own mean and
// variance (epsilon inside the square root). scale and bias are per channel, [C] (the opset-21
// GroupNormalization form that the importer produces).
//
// A group is a contiguous run of X, so its statistics are two passes over one run
// (moments_f32 in reduce_lanes.h), as in LayerNorm.
#include <cmath>

#include "reference/kernel.h"
#include "reference/ops/channels_last.h"
#include "reference/ops/reduce_lanes.h"

namespace tern::ref {

Status group_norm_nchw(const KernelContext& ctx);

// channels_last (set by the layout pass): the same kernel on channels-first copies in scratch.
size_t group_norm_scratch(const KernelContext& ctx) {
  return ctx.opts<fb::NormOptionsT>().channels_last ? channels_last_scratch(ctx) : 0;
}

Status group_norm(const KernelContext& ctx) {
  if (ctx.opts<fb::NormOptionsT>().channels_last) return run_channels_last(ctx, group_norm_nchw);
  return group_norm_nchw(ctx);
}

Status group_norm_nchw(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& scale = *ctx.in(1);
  const TensorRef& bias = *ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference kernel computes float32 only", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::NormOptionsT>();
  const int64_t batch = x.shape[0], channels = x.shape[1];
  const int64_t groups = ctx.op == OpType::InstanceNormalization ? channels : o.num_groups;
  if (groups == 0) return Status::ok();  // no channels
  int64_t plane = 1;
  for (int i = 2; i < x.shape.rank; ++i) plane *= x.shape[i];
  const int64_t per_group = channels / groups;
  const int64_t run = per_group * plane;
  if (run == 0) return Status::ok();
  const float* ps = scale.as<float>();
  const float* pb = bias.as<float>();
  const float* px = x.as<float>();
  float* py = y->as<float>();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t base = (n * groups + g) * run;
      const Moments mo = moments_f32(px + base, run);
      const float hi = mo.mean_hi, lo = mo.mean_lo;
      const float inv = static_cast<float>(1.0 / std::sqrt(mo.var + static_cast<double>(o.epsilon)));
      for (int64_t c = 0; c < per_group; ++c) {
        const int64_t ch = g * per_group + c;
        // Subtract the mean before scaling: folding it into the shift (x * a + (b - mean * a))
        // cancels catastrophically when the mean is large against the spread.
        const float a = inv * ps[ch];
        const float b = pb[ch];
        const float* xp = px + base + c * plane;
        float* yp = py + base + c * plane;
        for (int64_t i = 0; i < plane; ++i) yp[i] = ((xp[i] - hi) - lo) * a + b;
      }
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
