// Gemm and MatMul on int8 (docs/quantization-scheme.md): A int8 per tensor (s_a, z_a); B int8
// either per tensor (an activation: s_b, z_b) or symmetric per output column (weights: s_b[n],
// zero point 0, along B's column axis: 1 for [K, N], 0 for Gemm's trans_b [N, K]); the bias
// (Gemm's C as a vector [N] or scalar, MatMul's bias [N]) int32 with scale s_a * s_b[n]; Y int8
// per tensor. acc = bias + sum_k (a - z_a)(b - z_b), y = requantize(acc, s_a * s_b[n] / s_y) + z_y
// within the fused Relu/Clip bounds. Gemm's alpha/beta must be 1 (the quantizer folds them).
#include <algorithm>

#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

namespace tern::ref {

namespace {

struct QMat {
  const int8_t* p;
  int64_t rs, cs;  // row and column strides
};

// One M x N output matrix. b_col_axis_count: per-column quantization of B when > 1.
Status q8_matrix(const KernelContext& ctx, int64_t m, int64_t n, int64_t k, QMat a, QMat b, const TensorRef& ta,
                 const TensorRef& tb, const int32_t* bias, int64_t bias_stride, const TensorRef& ty, int32_t lo, int32_t hi,
                 int8_t* y) {
  (void)ctx;
  const float s_a = q_scale(ta), s_y = q_scale(ty);
  const int32_t z_a = q_zero(ta), z_y = q_zero(ty);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t c = tb.quant->count == 1 ? 0 : j;
    const quant::Multiplier mult = make_multiplier(s_a, q_scale(tb, c), s_y);
    const int32_t z_b = q_zero(tb, c);
    for (int64_t i = 0; i < m; ++i) {
      int32_t acc = bias ? bias[j * bias_stride] : 0;
      for (int64_t t = 0; t < k; ++t)
        acc += (static_cast<int32_t>(a.p[i * a.rs + t * a.cs]) - z_a) * (static_cast<int32_t>(b.p[t * b.rs + j * b.cs]) - z_b);
      y[i * n + j] = quant::requantize(acc, mult, z_y, lo, hi);
    }
  }
  return Status::ok();
}

Status check_common(const KernelContext& ctx, const TensorRef& a, const TensorRef& b, const TensorRef* y, int b_col_axis) {
  TERN_RETURN_IF_ERROR(require_quant(ctx, &a, "input A"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &b, "input B"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "output Y"));
  if (a.quant->count != 1 || y->quant->count != 1) return ctx.unsupported("A and Y must be quantized per tensor");
  if (b.quant->count != 1 && (b.shape.rank != 2 || b.quant->axis != b_col_axis))
    return ctx.unsupported("B %s must be quantized per tensor or per output column (axis %d)", b.shape.str().c_str(), b_col_axis);
  return Status::ok();
}

}  // namespace

Status gemm_q8(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* c = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const auto& o = ctx.opts<fb::GemmOptionsT>();
  TERN_RETURN_IF_ERROR(check_common(ctx, a, b, y, o.trans_b ? 0 : 1));
  if (o.alpha != 1.0f || (c && o.beta != 1.0f)) return ctx.unsupported("an int8 Gemm needs alpha = beta = 1 (fold them)");
  const int64_t m = y->shape[0], n = y->shape[1];
  const int64_t k = o.trans_a ? a.shape[0] : a.shape[1];
  if (c && (c->dtype != DType::Int32 || (c->numel() != n && c->numel() != 1) || (c->shape.rank == 2 && c->shape[0] != 1)))
    return ctx.error("C is %s %s; an int8 Gemm takes an int32 bias of [N] or a scalar", dtype_name(c->dtype), c->shape.str().c_str());
  int32_t lo, hi;
  if (!q8_activation_bounds(activation_of(o), q_scale(*y), q_zero(*y), &lo, &hi))
    return ctx.unsupported("fused activation %s has no int8 form", fb::EnumNameActivation(o.activation));
  QMat va = o.trans_a ? QMat{a.as<int8_t>(), 1, m} : QMat{a.as<int8_t>(), k, 1};
  QMat vb = o.trans_b ? QMat{b.as<int8_t>(), 1, k} : QMat{b.as<int8_t>(), n, 1};
  return q8_matrix(ctx, m, n, k, va, vb, a, b, c ? c->as<int32_t>() : nullptr, c && c->numel() == n ? 1 : 0, *y, lo, hi,
                   y->as<int8_t>());
}

Status matmul_q8(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* bias = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  TERN_RETURN_IF_ERROR(check_common(ctx, a, b, y, 1));
  if (bias && bias->dtype != DType::Int32) return ctx.error("bias is %s; an int8 MatMul takes an int32 bias", dtype_name(bias->dtype));
  int32_t lo, hi;
  if (!q8_activation_bounds(activation_of(ctx.opts<fb::MatMulOptionsT>()), q_scale(*y), q_zero(*y), &lo, &hi))
    return ctx.unsupported("fused activation has no int8 form");
  const MatMulDims d = matmul_dims(a.shape, b.shape, y->shape);
  const int64_t m = d.m, k = d.k, n = d.n;
  const Shape &ba = d.batch_a, &bb = d.batch_b, &batch = d.batch;
  if (y->numel() == 0) return Status::ok();
  const Shape* ins[2] = {&ba, &bb};
  Status st = Status::ok();
  const int8_t* pa = a.as<int8_t>();
  const int8_t* pb = b.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  for_each_broadcast<2>(batch, ins, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
    if (!st.is_ok()) return;
    st = q8_matrix(ctx, m, n, k, {pa + ia * m * k, k, 1}, {pb + ib * k * n, n, 1}, a, b,
                   bias ? bias->as<int32_t>() : nullptr, 1, *y, lo, hi, py + o * m * n);
  });
  return st;
}

}  // namespace tern::ref
