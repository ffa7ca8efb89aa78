// Attention on int8 (docs/quantization-scheme.md, "int8 Attention"; the numerics are
// attention_q8.h): Q, K, V and Y int8 per tensor, an optional int32 bias in units of the score
// grid (the compiler's quantized float bias), K [..., Lk, D] or [..., D, Lk] (k_transposed), batch
// dims broadcast as in the float kernel (attention.cpp), the bias broadcast to the logits
// [..., Lq, Lk] as there. One query row at a time: its Lk int32 scores (plus the bias row), then
// the int16 probabilities, in scratch; each output column is an exact int32 sum requantized once.
#include <algorithm>

#include "reference/ops/attention_q8.h"
#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

namespace tern::ref {

size_t attention_q8_scratch(const KernelContext& ctx) {
  const auto& o = ctx.opts<fb::AttentionOptionsT>();
  const Shape& ks = ctx.in(1)->shape;
  const int64_t lk = std::max<int64_t>(1, o.k_transposed ? ks[ks.rank - 1] : ks[ks.rank - 2]);
  return static_cast<size_t>(lk) * (sizeof(int32_t) + sizeof(int16_t));
}

Status attention_q8(const KernelContext& ctx) {
  const TensorRef& q = *ctx.in(0);
  const TensorRef& k = *ctx.in(1);
  const TensorRef& v = *ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const TensorRef* bias = ctx.in(3);
  if (bias && bias->dtype != DType::Int32)
    return ctx.error("the bias of an int8 Attention is %s; it must be int32 (units of s_q s_k scale)", dtype_name(bias->dtype));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &q, "Q"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &k, "K"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, &v, "V"));
  TERN_RETURN_IF_ERROR(require_quant(ctx, y, "Y"));
  for (const TensorRef* t : {&q, &k, &v, y})
    if (t->quant->count != 1) return ctx.unsupported("int8 Attention needs per-tensor quantization of Q, K, V and Y");
  const auto& o = ctx.opts<fb::AttentionOptionsT>();
  const Shape &qs = q.shape, &ks = k.shape, &vs = v.shape, &ys = y->shape;
  const int64_t lq = qs[qs.rank - 2], d = qs[qs.rank - 1];
  const int64_t lk = o.k_transposed ? ks[ks.rank - 1] : ks[ks.rank - 2];
  const int64_t dv = vs[vs.rank - 1];
  if (d > attq8::kMaxDepth || lk > attq8::kMaxKeys)
    return ctx.unsupported("int8 Attention: depth %lld / %lld keys beyond the exact int32 range (%lld / %lld)",
                           static_cast<long long>(d), static_cast<long long>(lk), static_cast<long long>(attq8::kMaxDepth),
                           static_cast<long long>(attq8::kMaxKeys));
  if (bias && d > attq8::kMaxBiasedDepth)
    return ctx.unsupported("int8 Attention with a bias: depth %lld beyond the exact int32 range (%lld)", static_cast<long long>(d),
                           static_cast<long long>(attq8::kMaxBiasedDepth));
  const int32_t* pb = bias ? bias->as<int32_t>() : nullptr;
  if (bias)
    for (int64_t i = 0, n = bias->numel(); i < n; ++i)
      if (pb[i] < -attq8::kMaxBias || pb[i] > attq8::kMaxBias)
        return ctx.unsupported("int8 Attention: bias value %d beyond +-2^29 (the exact int32 range)", pb[i]);
  float c256 = 0;
  if (!attq8::logit_step(q_scale(q), q_scale(k), o.scale, &c256))
    return ctx.unsupported("int8 Attention: scale %g (with s_q %g, s_k %g) is not positive and finite", o.scale, q_scale(q), q_scale(k));
  const int64_t k_js = o.k_transposed ? 1 : d, k_ts = o.k_transposed ? lk : 1;
  const int32_t z_q = q_zero(q), z_k = q_zero(k), z_v = q_zero(v), z_y = q_zero(*y);
  const quant::Multiplier m = make_multiplier(1.0 / attq8::kProbMax, q_scale(v), q_scale(*y));
  const Shape bq = batch_dims(qs), bk = batch_dims(ks), bv = batch_dims(vs), batch = batch_dims(ys);
  // The bias as [batch..., rows, cols] matrices (rows, cols 1 where it broadcasts over Lq, Lk): its
  // matrix index comes from the batch walk, its strides within one [Lq, Lk] matrix are 0 on a
  // broadcast axis. (infer_attention checked that it broadcasts to the logits.)
  const Shape bb = bias ? batch_dims(bias->shape) : Shape{};
  const int64_t b_rows = bias && bias->shape.rank >= 2 ? bias->shape[bias->shape.rank - 2] : 1;
  const int64_t b_cols = bias && bias->shape.rank >= 1 ? bias->shape[bias->shape.rank - 1] : 1;
  const int64_t b_is = b_rows == 1 ? 0 : b_cols, b_js = b_cols == 1 ? 0 : 1;
  if (lk == 0) {  // softmax over nothing: no term in any output sum
    std::fill(y->as<int8_t>(), y->as<int8_t>() + y->numel(), quant::requantize(0, m, z_y));
    return Status::ok();
  }

  const int8_t* pq = q.as<int8_t>();
  const int8_t* pk = k.as<int8_t>();
  const int8_t* pv = v.as<int8_t>();
  int8_t* py = y->as<int8_t>();
  int32_t* s = static_cast<int32_t*>(ctx.scratch);
  int16_t* p = reinterpret_cast<int16_t*>(s + lk);
  const Shape* ins[4] = {&bq, &bk, &bv, &bb};
  for_each_broadcast<4>(batch, ins, [&](int64_t ob, int64_t iq, int64_t ik, int64_t iv, int64_t ib) {
    const int32_t* bm = pb ? pb + ib * b_rows * b_cols : nullptr;
    const int8_t* qm = pq + iq * lq * d;
    const int8_t* km = pk + ik * lk * d;
    const int8_t* vm = pv + iv * lk * dv;
    int8_t* ym = py + ob * lq * dv;
    for (int64_t i = 0; i < lq; ++i) {
      const int8_t* qr = qm + i * d;
      for (int64_t j = 0; j < lk; ++j) {
        int32_t acc = 0;
        for (int64_t t = 0; t < d; ++t) acc += (qr[t] - z_q) * (km[j * k_js + t * k_ts] - z_k);
        s[j] = acc;
      }
      if (bm)  // |S| < 2^29, |B| <= 2^29: no overflow (attention_q8.h)
        for (int64_t j = 0; j < lk; ++j) s[j] += bm[i * b_is + j * b_js];
      attq8::softmax_row(s, lk, c256, s, p);
      int8_t* yr = ym + i * dv;
      for (int64_t t = 0; t < dv; ++t) {
        int32_t acc = 0;
        for (int64_t j = 0; j < lk; ++j) acc += static_cast<int32_t>(p[j]) * (vm[j * dv + t] - z_v);
        yr[t] = quant::requantize(acc, m, z_y);
      }
    }
  });
  return Status::ok();
}

}  // namespace tern::ref
