// Attention (float32): Y = softmax(scale * Q @ K^T + bias) @ V over the last axis, per batch
// (leading dims, broadcast across Q, K, V as in MatMul). K is [..., Lk, D], or [..., D, Lk] when
// k_transposed (the compiler absorbs the Transpose exporters put before the first MatMul); bias
// broadcasts to the logits [..., Lq, Lk]. Created by compiler/passes/fuse_attention.cpp from
// MatMul -> Mul/Div -> [Add] -> Softmax -> MatMul.
//
// One query row at a time: its Lk logits live in scratch, softmax subtracts the row maximum
// (a row of only -inf gives NaN, as the unfused Softmax does), and the row of Y accumulates
// p_j * V[j] in key order. Logits are float32 dot products summed in order, like the reference
// MatMul's, so fused and unfused plans agree to rounding.
#include <algorithm>
#include <cmath>

#include "reference/kernel.h"
#include "reference/ops/reduce_lanes.h"
#include "reference/ops/util.h"

namespace tern::ref {

size_t attention_scratch(const KernelContext& ctx) {
  const auto& o = ctx.opts<fb::AttentionOptionsT>();
  const Shape& ks = ctx.in(1)->shape;
  const int64_t lk = o.k_transposed ? ks[ks.rank - 1] : ks[ks.rank - 2];
  return static_cast<size_t>(std::max<int64_t>(lk, 1)) * sizeof(float);
}

Status attention(const KernelContext& ctx) {
  const TensorRef& q = *ctx.in(0);
  const TensorRef& k = *ctx.in(1);
  const TensorRef& v = *ctx.in(2);
  const TensorRef* bias = ctx.in(3);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (q.dtype != DType::Float32)
    return ctx.unsupported("Q is %s; the reference Attention computes float32 only", dtype_name(q.dtype));
  const auto& o = ctx.opts<fb::AttentionOptionsT>();
  const Shape &qs = q.shape, &ks = k.shape, &vs = v.shape, &ys = y->shape;
  const int64_t lq = qs[qs.rank - 2], d = qs[qs.rank - 1];
  const int64_t lk = o.k_transposed ? ks[ks.rank - 1] : ks[ks.rank - 2];
  const int64_t dv = vs[vs.rank - 1];
  // K's element (key j, depth t) is at j * k_js + t * k_ts within one batch matrix.
  const int64_t k_js = o.k_transposed ? 1 : d, k_ts = o.k_transposed ? lk : 1;
  const Shape bq = batch_dims(qs), bk = batch_dims(ks), bv = batch_dims(vs), batch = batch_dims(ys);
  // Bias strides seen through broadcasting to the logits [batch..., Lq, Lk].
  Shape logits = batch;
  logits.dims[logits.rank++] = lq;
  logits.dims[logits.rank++] = lk;
  int64_t bstr[kMaxRank] = {};
  if (bias) broadcast_strides(bias->shape, logits, bstr);
  const int64_t b_is = bias ? bstr[logits.rank - 2] : 0, b_js = bias ? bstr[logits.rank - 1] : 0;

  const float* pq = q.as<float>();
  const float* pk = k.as<float>();
  const float* pv = v.as<float>();
  const float* pb = bias ? bias->as<float>() : nullptr;
  float* py = y->as<float>();
  float* p = static_cast<float*>(ctx.scratch);
  const float scale = o.scale;
  const Shape* ins[3] = {&bq, &bk, &bv};
  int64_t bidx[kMaxRank] = {};
  for_each_broadcast<3>(batch, ins, [&](int64_t ob, int64_t iq, int64_t ik, int64_t iv) {
    // Offset of this batch in the bias: walk its batch index (row-major over `batch`).
    int64_t boff = 0;
    if (pb) {
      int64_t rem = ob;
      for (int i = batch.rank - 1; i >= 0; --i) {
        bidx[i] = rem % batch[i];
        rem /= batch[i];
      }
      for (int i = 0; i < batch.rank; ++i) boff += bidx[i] * bstr[i];
    }
    const float* qm = pq + iq * lq * d;
    const float* km = pk + ik * lk * d;
    const float* vm = pv + iv * lk * dv;
    float* ym = py + ob * lq * dv;
    for (int64_t i = 0; i < lq; ++i) {
      const float* qr = qm + i * d;
      float mx = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        float acc = 0.0f;
        for (int64_t t = 0; t < d; ++t) acc += qr[t] * km[j * k_js + t * k_ts];
        float l = acc * scale;
        if (pb) l += pb[boff + i * b_is + j * b_js];
        p[j] = l;
        mx = std::max(mx, l);
      }
      for (int64_t j = 0; j < lk; ++j) p[j] = std::exp(p[j] - mx);
      const float inv = lk > 0 ? static_cast<float>(1.0 / sum_f32(p, lk)) : 0.0f;
      float* yr = ym + i * dv;
      std::fill(yr, yr + dv, 0.0f);
      for (int64_t j = 0; j < lk; ++j) {
        const float w = p[j] * inv;
        const float* vr = vm + j * dv;
        for (int64_t t = 0; t < dv; ++t) yr[t] += w * vr[t];
      }
    }
  });
  return Status::ok();
}

}  // namespace tern::ref
