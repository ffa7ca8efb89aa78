// QuantizeLinear (float32 -> int8 with Y's Quantization) and DequantizeLinear (int8 with X's
// Quantization -> float32): the edges of the float islands of an int8 plan. Per tensor or per
// channel along the Quantization's axis.
#include "reference/ops/q8_util.h"

namespace tern::ref {

namespace {
// Elements per channel step and channel count for per-channel parameters along `axis`.
void channel_layout(const TensorRef& t, int64_t* inner, int64_t* channels) {
  *inner = 1;
  *channels = 1;
  if (t.quant->count > 1) {
    *channels = t.shape[t.quant->axis];
    for (int i = t.quant->axis + 1; i < t.shape.rank; ++i) *inner *= t.shape[i];
  }
}
}  // namespace

Status quantize_linear(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  int64_t inner, ch;
  channel_layout(*y, &inner, &ch);
  const float* px = x.as<float>();
  int8_t* py = y->as<int8_t>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = (i / inner) % ch;
    py[i] = quant::quantize_value(px[i], q_scale(*y, c), q_zero(*y, c));
  }
  return Status::ok();
}

Status dequantize_linear(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &x, "input X"));
  int64_t inner, ch;
  channel_layout(x, &inner, &ch);
  const int8_t* px = x.as<int8_t>();
  float* py = y->as<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = (i / inner) % ch;
    py[i] = quant::dequantize_value(px[i], q_scale(x, c), q_zero(x, c));
  }
  return Status::ok();
}

}  // namespace tern::ref
