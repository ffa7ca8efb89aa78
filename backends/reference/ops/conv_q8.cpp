// Conv on int8 (docs/quantization-scheme.md): X int8 per tensor (s_x, z_x), W int8 symmetric per
// output channel (s_w[m], zero point 0), B int32 (scale s_x * s_w[m]), Y int8 per tensor (s_y, z_y):
//   acc[m] = B[m] + sum over taps inside the input of (x - z_x) * w
//   y = saturate(requantize(acc, s_x * s_w[m] / s_y) + z_y) within the fused Relu/Clip bounds.
// Padding contributes nothing: padded X is real 0, i.e. x - z_x = 0. Any group count (depthwise
// included), 1 to 3 spatial dims. Direct loops: this is the ground truth, not the fast path.
// channels_last (the layout pass, CPU target): the same loops on channels-first copies in scratch
// (channels_last.h; scratch sized by conv_scratch), so both layouts give identical bytes.
#include "reference/ops/channels_last.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/q8_util.h"

namespace tern::ref {

namespace {

Status conv_q8_nchw(const KernelContext& ctx);

}  // namespace

Status conv_q8(const KernelContext& ctx) {
  if (ctx.opts<fb::ConvOptionsT>().channels_last) return run_channels_last(ctx, conv_q8_nchw);
  return conv_q8_nchw(ctx);
}

namespace {

Status conv_q8_nchw(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& w = *ctx.in(1);
  const TensorRef* b = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &x, "input X"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &w, "weight W"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (b && b->dtype != DType::Int32) return ctx.error("bias B is %s; an int8 Conv takes an int32 bias", dtype_name(b->dtype));
  if (x.quant->count != 1 || y->quant->count != 1) return ctx.unsupported("X and Y must be quantized per tensor");
  const auto& o = ctx.opts<fb::ConvOptionsT>();  // channels_last: already transposed (conv_q8)
  const Window3 g = make_window(o, x.shape, y->shape);
  const int64_t group = o.group, batch = x.shape[0];
  const int64_t cg = x.shape[1] / group, mg = y->shape[1] / group, cout = y->shape[1];
  const float s_x = q_scale(x), s_y = q_scale(*y);
  const int32_t z_x = q_zero(x), z_y = q_zero(*y);
  int32_t lo, hi;
  if (!q8_activation_bounds(activation_of(o), s_y, z_y, &lo, &hi))
    return ctx.unsupported("fused activation %s has no int8 form", fb::EnumNameActivation(o.activation));
  const int8_t* px = x.as<int8_t>();
  const int8_t* pw = w.as<int8_t>();
  const int32_t* pb = b ? b->as<int32_t>() : nullptr;
  int8_t* py = y->as<int8_t>();
  for (int64_t m = 0; m < cout; ++m) {
    if (w.quant->count != 1 && w.quant->axis != 0) return ctx.unsupported("W must be quantized per output channel (axis 0)");
    const int64_t gi = m / mg;
    const quant::Multiplier mult = make_multiplier(s_x, q_scale(w, m), s_y);
    const int32_t z_w = q_zero(w, m);
    const int8_t* wm = pw + m * cg * g.taps;
    for (int64_t n = 0; n < batch; ++n) {
      const int8_t* xg = px + (n * x.shape[1] + gi * cg) * g.in_plane;
      int8_t* ym = py + (n * cout + m) * g.out_plane;
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            // Taps inside the input (padding is real 0: it adds nothing).
            const int64_t d0 = od * g.s[0] - g.pad[0], h0 = oh * g.s[1] - g.pad[1], w0 = ow * g.s[2] - g.pad[2];
            int64_t kd0, kd1, kh0, kh1, kw0, kw1;
            tap_range(d0, g.in[0], g.k[0], g.dil[0], &kd0, &kd1);
            tap_range(h0, g.in[1], g.k[1], g.dil[1], &kh0, &kh1);
            tap_range(w0, g.in[2], g.k[2], g.dil[2], &kw0, &kw1);
            int32_t acc = pb ? pb[m] : 0;
            for (int64_t c = 0; c < cg; ++c) {
              const int8_t* xc = xg + c * g.in_plane;
              const int8_t* wc = wm + c * g.taps;
              for (int64_t kd = kd0; kd < kd1; ++kd)
                for (int64_t kh = kh0; kh < kh1; ++kh) {
                  const int8_t* xr = xc + ((d0 + kd * g.dil[0]) * g.in[1] + h0 + kh * g.dil[1]) * g.in[2] + w0;
                  const int8_t* wr = wc + (kd * g.k[1] + kh) * g.k[2];
                  for (int64_t kw = kw0; kw < kw1; ++kw)
                    acc += (static_cast<int32_t>(xr[kw * g.dil[2]]) - z_x) * (static_cast<int32_t>(wr[kw]) - z_w);
                }
            }
            ym[(od * g.out[1] + oh) * g.out[2] + ow] = quant::requantize(acc, mult, z_y, lo, hi);
          }
    }
  }
  return Status::ok();
}

}  // namespace

}  // namespace tern::ref
