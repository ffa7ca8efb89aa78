// Conv and ConvTranspose (ONNX semantics, float32), 1 to 3 spatial dims, NC[D]H[W] layout.
//
// Every rank is handled as 3-D: missing leading spatial dims become size 1 with a 1-tap kernel.
//
// Conv: a pointwise conv (1x1, stride 1, no padding) is one matrix product per group
// (W[M/g, C/g] x X[C/g, spatial]). Every other conv is computed directly, without im2col (there is
// no scratch to hold it): a register tile of MR output channels x NR adjacent output columns is
// accumulated over every input channel and tap of the group, then stored once. Output columns
// whose window crosses the left or right padding are done one at a time with the taps clipped, so
// the tile loop itself never tests bounds; rows (and depth planes) clip their taps per row. Rows
// are the outer loop and channel blocks the inner one, so the few input rows a row of output needs
// stay in cache while every output channel reads them.
//
// ConvTranspose gathers instead of scattering: for each output row and kernel tap, the output
// columns that tap reaches form an arithmetic sequence (step = stride) fed by a contiguous run of
// input columns, so each (row, tap) is one small matrix product W^T[M/g, C/g] x X[C/g, run]
// accumulated into strided output columns. It needs no scratch either.
#include <algorithm>

#include "reference/kernel.h"
#include "reference/ops/activation.h"
#include "reference/ops/channels_last.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/gemm_kernel.h"

namespace tern::ref {

namespace {

// A conv's window plus its channel split.
struct Geometry : Window3 {
  int64_t batch = 0, group = 1;
  int64_t cg = 0, mg = 0;  // input / output channels per group
};

template <typename Options>
Geometry make_geometry(const Options& o, const Shape& x, const Shape& y, int64_t cg, int64_t mg) {
  Geometry g;
  static_cast<Window3&>(g) = make_window(o, x, y);
  g.batch = x[0];
  g.group = o.group;
  g.cg = cg;
  g.mg = mg;
  return g;
}

// Where one output row (fixed od, oh) reads: taps that land inside the input in d and h, and the
// input offset of tap (kd, kh) = row_base + kd * d_step + kh * h_step.
struct RowTaps {
  int64_t kd0, kd1, kh0, kh1;
  int64_t row_base, d_step, h_step;
};

// MR output channels x NR output columns starting at column ow0, over taps kw in [kw0, kw1) (the
// caller guarantees every such tap of every column is inside the input row). kStride: the stride in
// w when it is 1 or 2 (known at compile time, the loads vectorize), 0 for any other.
template <int MR, int NR, int kStride>
TERN_REF_TILE_KERNEL void conv_tile(const Geometry& g, const RowTaps& rt, const float* x, const float* w,
                                    const float* bias, int64_t ow0, int64_t kw0, int64_t kw1, float* y) {
  const int64_t sw = kStride ? kStride : g.s[2];
  const int64_t w_oc = g.cg * g.taps;
  const int64_t iw0 = ow0 * g.s[2] - g.pad[2];
  float acc[MR][NR];
  for (int r = 0; r < MR; ++r) {
    float b = bias ? bias[r] : 0.0f;
    for (int c = 0; c < NR; ++c) acc[r][c] = b;
  }
  for (int64_t ic = 0; ic < g.cg; ++ic) {
    // Offsets stay integers until a tap is known to be inside the input: the row's base offset
    // alone may be negative (a window starting in the padding).
    const int64_t xc = ic * g.in_plane + rt.row_base + iw0 + kw0 * g.dil[2];
    const float* wc = w + ic * g.taps;
    for (int64_t kd = rt.kd0; kd < rt.kd1; ++kd) {
      for (int64_t kh = rt.kh0; kh < rt.kh1; ++kh) {
        const float* xp = x + (xc + kd * rt.d_step + kh * rt.h_step);
        const float* wp = wc + (kd * g.k[1] + kh) * g.k[2] + kw0;
        for (int64_t t = 0; t < kw1 - kw0; ++t) {
          const float* xt = xp + t * g.dil[2];
          float xv[NR];
          for (int c = 0; c < NR; ++c) xv[c] = xt[c * sw];
          for (int r = 0; r < MR; ++r) {
            float wv = wp[r * w_oc + t];
            for (int c = 0; c < NR; ++c) acc[r][c] += wv * xv[c];
          }
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) y[r * g.out_plane + c] = acc[r][c];
}

// One output row of MR channels: interior columns in tiles, border columns one by one.
template <int MR, int kStride>
void conv_row(const Geometry& g, const RowTaps& rt, const float* x, const float* w, const float* bias, float* y) {
  const int64_t ow_n = g.out[2], sw = g.s[2], pw = g.pad[2], kw = g.k[2], dw = g.dil[2], in_w = g.in[2];
  int64_t lo, hi;
  interior_columns(g, &lo, &hi);
  auto border = [&](int64_t ow) {
    int64_t k0, k1;
    tap_range(ow * sw - pw, in_w, kw, dw, &k0, &k1);
    conv_tile<MR, 1, kStride>(g, rt, x, w, bias, ow, k0, k1, y + ow);
  };
  for (int64_t ow = 0; ow < lo; ++ow) border(ow);
  int64_t ow = lo;
  for (; ow + 8 <= hi; ow += 8) conv_tile<MR, 8, kStride>(g, rt, x, w, bias, ow, 0, kw, y + ow);
  for (; ow + 4 <= hi; ow += 4) conv_tile<MR, 4, kStride>(g, rt, x, w, bias, ow, 0, kw, y + ow);
  for (; ow + 2 <= hi; ow += 2) conv_tile<MR, 2, kStride>(g, rt, x, w, bias, ow, 0, kw, y + ow);
  for (; ow < hi; ++ow) conv_tile<MR, 1, kStride>(g, rt, x, w, bias, ow, 0, kw, y + ow);
  for (ow = hi; ow < ow_n; ++ow) border(ow);
}

// One image and group: x, w, bias and y point at the group's first channel.
template <int kStride>
void conv_group(const Geometry& g, const float* x, const float* w, const float* bias, const ActivationParams& act,
                float* y) {
  const int64_t w_oc = g.cg * g.taps;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      RowTaps rt;
      int64_t id0 = od * g.s[0] - g.pad[0], ih0 = oh * g.s[1] - g.pad[1];
      tap_range(id0, g.in[0], g.k[0], g.dil[0], &rt.kd0, &rt.kd1);
      tap_range(ih0, g.in[1], g.k[1], g.dil[1], &rt.kh0, &rt.kh1);
      rt.d_step = g.dil[0] * g.in[1] * g.in[2];
      rt.h_step = g.dil[1] * g.in[2];
      rt.row_base = id0 * g.in[1] * g.in[2] + ih0 * g.in[2];
      const int64_t y_row = (od * g.out[1] + oh) * g.out[2];
      int64_t m = 0;
      for (; m + 4 <= g.mg; m += 4)
        conv_row<4, kStride>(g, rt, x, w + m * w_oc, bias ? bias + m : nullptr, y + m * g.out_plane + y_row);
      for (; m < g.mg; ++m)
        conv_row<1, kStride>(g, rt, x, w + m * w_oc, bias ? bias + m : nullptr, y + m * g.out_plane + y_row);
      for (m = 0; m < g.mg; ++m) activate_row(act, y + m * g.out_plane + y_row, g.out[2]);
    }
  }
}

void conv_pointwise(const Geometry& g, const float* x, const float* w, const float* bias, const ActivationParams& act,
                    float* y) {
  for (int64_t m = 0; m < g.mg; ++m) std::fill(y + m * g.out_plane, y + (m + 1) * g.out_plane, bias ? bias[m] : 0.0f);
  gemm_accumulate(g.mg, g.out_plane, g.cg, {w, g.cg, 1}, {x, g.in_plane, 1}, {y, g.out_plane, 1});
  activate_row(act, y, g.mg * g.out_plane);
}

}  // namespace

Status conv_nchw(const KernelContext& ctx);

// channels_last (set by the layout pass): the same kernel on channels-first copies in scratch.
size_t conv_scratch(const KernelContext& ctx) {
  return ctx.opts<fb::ConvOptionsT>().channels_last ? channels_last_scratch(ctx) : 0;
}

Status conv(const KernelContext& ctx) {
  if (ctx.opts<fb::ConvOptionsT>().channels_last) return run_channels_last(ctx, conv_nchw);
  return conv_nchw(ctx);
}

Status conv_nchw(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& w = *ctx.in(1);
  const TensorRef* b = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference Conv computes float32 only", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::ConvOptionsT>();
  const int64_t group = o.group;
  const Geometry g = make_geometry(o, x.shape, y->shape, x.shape[1] / group, y->shape[1] / group);
  const ActivationParams act = activation_of(o);
  bool pointwise = g.taps == 1;
  for (int i = 0; i < 3; ++i) pointwise = pointwise && g.s[i] == 1 && g.pad[i] == 0 && g.in[i] == g.out[i];

  const float* px = x.as<float>();
  const float* pw = w.as<float>();
  const float* pb = b ? b->as<float>() : nullptr;
  float* py = y->as<float>();
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = px + (n * group + gi) * g.cg * g.in_plane;
      const float* wg = pw + gi * g.mg * g.cg * g.taps;
      const float* bg = pb ? pb + gi * g.mg : nullptr;
      float* yg = py + (n * group + gi) * g.mg * g.out_plane;
      if (pointwise) conv_pointwise(g, xg, wg, bg, act, yg);
      else if (g.s[2] == 1) conv_group<1>(g, xg, wg, bg, act, yg);
      else if (g.s[2] == 2) conv_group<2>(g, xg, wg, bg, act, yg);
      else conv_group<0>(g, xg, wg, bg, act, yg);
    }
  }
  return Status::ok();
}

// The gather form (see the top of this file) accumulates straight into Y: no scratch.
size_t conv_transpose_scratch(const KernelContext&) { return 0; }

Status conv_transpose(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& w = *ctx.in(1);
  const TensorRef* b = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference ConvTranspose computes float32 only", dtype_name(x.dtype));
  const auto& o = ctx.opts<fb::ConvTransposeOptionsT>();
  const int64_t group = o.group;
  // W is [C, M/group, k...]: input channels first.
  const Geometry g = make_geometry(o, x.shape, y->shape, x.shape[1] / group, w.shape[1]);
  const float* px = x.as<float>();
  const float* pw = w.as<float>();
  const float* pb = b ? b->as<float>() : nullptr;
  float* py = y->as<float>();
  const int64_t in_w = g.in[2], out_w = g.out[2], sw = g.s[2], dw = g.dil[2], pad_w = g.pad[2];

  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t gi = 0; gi < group; ++gi) {
      const float* xg = px + (n * group + gi) * g.cg * g.in_plane;
      const float* wg = pw + gi * g.cg * g.mg * g.taps;
      float* yg = py + (n * group + gi) * g.mg * g.out_plane;
      for (int64_t m = 0; m < g.mg; ++m)
        std::fill(yg + m * g.out_plane, yg + (m + 1) * g.out_plane, pb ? pb[gi * g.mg + m] : 0.0f);
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          float* yrow = yg + (od * g.out[1] + oh) * out_w;
          for (int64_t kd = 0; kd < g.k[0]; ++kd) {
            // Output od receives input id when od = id * stride - pad + kd * dilation.
            int64_t td = od + g.pad[0] - kd * g.dil[0];
            if (td < 0 || td % g.s[0] != 0 || td / g.s[0] >= g.in[0]) continue;
            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
              int64_t th = oh + g.pad[1] - kh * g.dil[1];
              if (th < 0 || th % g.s[1] != 0 || th / g.s[1] >= g.in[1]) continue;
              const float* xrow = xg + (td / g.s[0] * g.in[1] + th / g.s[1]) * in_w;
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                // Input columns iw with 0 <= iw * sw - pad_w + kw * dw < out_w.
                int64_t off = kw * dw - pad_w;
                int64_t iw0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t iw1 = out_w - off <= 0 ? 0 : std::min(in_w, (out_w - off + sw - 1) / sw);
                if (iw1 <= iw0) continue;
                const float* wt = wg + (kd * g.k[1] + kh) * g.k[2] + kw;
                gemm_accumulate(g.mg, iw1 - iw0, g.cg, {wt, g.taps, g.mg * g.taps}, {xrow + iw0, g.in_plane, 1},
                                {yrow + iw0 * sw + off, g.out_plane, sw});
              }
            }
          }
        }
      }
    }
  }
  return Status::ok();
}

}  // namespace tern::ref
