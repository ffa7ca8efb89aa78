// BatchNormalization in inference mode (ONNX semantics, float32):
//   Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1).
// scale / sqrt(var + epsilon) is computed once per channel, so the loop over each spatial plane is
// a subtract and a multiply-add the compiler vectorizes. The mean is subtracted first rather than
// folded into the shift (x * a + (B - mean * a)), which would cancel badly when the mean is large
// against the spread.
#include <cmath>

#include "reference/kernel.h"

namespace tern::ref {

Status batch_norm(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference BatchNormalization computes float32 only", dtype_name(x.dtype));
  const float eps = ctx.opts<fb::NormOptionsT>().epsilon;
  const float* scale = ctx.in(1)->as<float>();
  const float* bias = ctx.in(2)->as<float>();
  const float* mean = ctx.in(3)->as<float>();
  const float* var = ctx.in(4)->as<float>();
  const int64_t batch = x.shape[0], channels = x.shape[1];
  int64_t plane = 1;
  for (int i = 2; i < x.shape.rank; ++i) plane *= x.shape[i];
  const float* px = x.as<float>();
  float* py = y->as<float>();
  for (int64_t c = 0; c < channels; ++c) {
    const float a = scale[c] / std::sqrt(var[c] + eps);
    const float mu = mean[c], b = bias[c];
    for (int64_t n = 0; n < batch; ++n) {
      const float* xp = px + (n * channels + c) * plane;
      float* yp = py + (n * channels + c) * plane;
      for (int64_t i = 0; i < plane; ++i) yp[i] = (xp[i] - mu) * a + b;
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
