// AveragePool and GlobalAveragePool on int8 (docs/quantization-scheme.md): X and Y per tensor;
// acc = sum over the counted taps of (x - z_x), y = requantize(acc, s_x / (s_y * count)) + z_y.
// The divisor follows the float kernel's rule (taps inside the input, or inside the padded input
// under count_include_pad; a padded tap is real 0). MaxPool / GlobalMaxPool need no int8 form:
// with Y quantized like X, the float kernel's max over int8 values is exact (pool.cpp).
// channels_last AveragePool (the layout pass) runs the same loops on channels-first copies in
// scratch (channels_last.h). ReduceMean over a contiguous run of axes (the layout pass's NHWC
// GlobalAveragePool: axes 1, 2) is the global pool's arithmetic over those axes.
#include "reference/ops/channels_last.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/q8_util.h"

namespace tern::ref {

namespace {

Status pool_q8_nchw(const KernelContext& ctx);

// ReduceMean on int8: y = requantize(sum (x - z_x), s_x / (s_y * count)) + z_y over the reduced
// axes, which must be one contiguous run (outer x reduced x inner).
Status reduce_mean_q8(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &x, "input X"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (x.quant->count != 1 || y->quant->count != 1) return ctx.unsupported("X and Y must be quantized per tensor");
  const auto& o = ctx.opts<fb::ReduceOptionsT>();
  const int r = x.shape.rank;
  bool reduced[kMaxRank] = {};
  for (int i = 0; i < r; ++i) reduced[i] = o.axes.empty();
  for (int32_t a : o.axes) reduced[a < 0 ? a + r : a] = true;
  int first = -1, last = -1;
  for (int i = 0; i < r; ++i)
    if (reduced[i]) {
      if (first < 0) first = i;
      else if (last != i - 1) return ctx.unsupported("the int8 ReduceMean takes one contiguous run of axes");
      last = i;
    }
  if (first < 0) return ctx.unsupported("the int8 ReduceMean needs at least one reduced axis");
  int64_t outer = 1, red = 1, inner = 1;
  for (int i = 0; i < r; ++i) (i < first ? outer : i <= last ? red : inner) *= x.shape[i];
  const quant::Multiplier m = make_multiplier(q_scale(x), 1.0 / static_cast<double>(red ? red : 1), q_scale(*y));
  const int32_t z_x = q_zero(x), z_y = q_zero(*y);
  const int8_t* px = x.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t c = 0; c < inner; ++c) {
      int32_t acc = 0;
      for (int64_t i = 0; i < red; ++i) acc += px[(a * red + i) * inner + c] - z_x;
      py[a * inner + c] = quant::requantize(acc, m, z_y);
    }
  return Status::ok();
}

}  // namespace

Status pool_q8(const KernelContext& ctx) {
  if (ctx.op == OpType::ReduceMean) return reduce_mean_q8(ctx);
  if (ctx.op == OpType::AveragePool && ctx.opts<fb::PoolOptionsT>().channels_last)
    return run_channels_last(ctx, pool_q8_nchw);
  return pool_q8_nchw(ctx);
}

namespace {

Status pool_q8_nchw(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(require_quant(ctx, &x, "input X"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (x.quant->count != 1 || y->quant->count != 1) return ctx.unsupported("X and Y must be quantized per tensor");
  const float s_x = q_scale(x), s_y = q_scale(*y);
  const int32_t z_x = q_zero(x), z_y = q_zero(*y);
  const int8_t* px = x.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  const int64_t planes = x.shape[0] * x.shape[1];
  if (ctx.op == OpType::GlobalAveragePool) {
    const int64_t hw = x.numel() / (planes ? planes : 1);
    const quant::Multiplier m = make_multiplier(s_x, 1.0 / static_cast<double>(hw ? hw : 1), s_y);
    for (int64_t p = 0; p < planes; ++p) {
      int32_t acc = 0;
      for (int64_t i = 0; i < hw; ++i) acc += px[p * hw + i] - z_x;
      py[p] = quant::requantize(acc, m, z_y);
    }
    return Status::ok();
  }
  if (ctx.op != OpType::AveragePool) return ctx.unsupported("this pool has no int8 form");
  const auto& o = ctx.opts<fb::PoolOptionsT>();  // channels_last: already transposed (pool_q8)
  const Window3 w = make_window(o, x.shape, y->shape);
  for (int64_t p = 0; p < planes; ++p) {
    const int8_t* xp = px + p * w.in_plane;
    int8_t* yp = py + p * w.out_plane;
    for (int64_t od = 0; od < w.out[0]; ++od)
      for (int64_t oh = 0; oh < w.out[1]; ++oh)
        for (int64_t ow = 0; ow < w.out[2]; ++ow) {
          int32_t acc = 0;
          int64_t counted = 1;
          const int64_t start[3] = {od * w.s[0] - w.pad[0], oh * w.s[1] - w.pad[1], ow * w.s[2] - w.pad[2]};
          int64_t inside[3];
          for (int a = 0; a < 3; ++a) {
            int64_t n_in = 0, n_pad = 0;
            for (int64_t t = 0; t < w.k[a]; ++t) {
              int64_t pos = start[a] + t * w.dil[a];
              n_in += pos >= 0 && pos < w.in[a];
              n_pad += pos >= -w.pad[a] && pos < w.in[a] + w.pad_end[a];
            }
            inside[a] = n_in;
            counted *= o.count_include_pad ? n_pad : n_in;
          }
          (void)inside;
          for (int64_t kd = 0; kd < w.k[0]; ++kd) {
            int64_t id = start[0] + kd * w.dil[0];
            if (id < 0 || id >= w.in[0]) continue;
            for (int64_t kh = 0; kh < w.k[1]; ++kh) {
              int64_t ih = start[1] + kh * w.dil[1];
              if (ih < 0 || ih >= w.in[1]) continue;
              for (int64_t kw = 0; kw < w.k[2]; ++kw) {
                int64_t iw = start[2] + kw * w.dil[2];
                if (iw < 0 || iw >= w.in[2]) continue;
                acc += xp[(id * w.in[1] + ih) * w.in[2] + iw] - z_x;
              }
            }
          }
          const quant::Multiplier m = make_multiplier(s_x, 1.0 / static_cast<double>(counted ? counted : 1), s_y);
          yp[(od * w.out[1] + oh) * w.out[2] + ow] = quant::requantize(acc, m, z_y);
        }
  }
  return Status::ok();
}

}  // namespace

}  // namespace tern::ref
