// Shape inference: the ops only the compiler's fusion passes create (compiler/passes/fuse_*.cpp):
// Activation, RMSNormalization, Attention. They never come from an ONNX file directly, but a plan
// carrying them is re-checked by the runtime like any other node.
#include "ops/op_defs.h"

namespace tern::ops {

Status infer_activation(const InferContext& c) {
  const auto* o = c.opts<fb::ActivationOptionsT>();
  const TensorInfo& x = *c.in(0);
  // int8: a quantized plan's table node (docs/quantization-scheme.md; reference unary_q8).
  if (!dtype_is_float(x.dtype) && x.dtype != DType::Int8)
    return c.unsupported("X is %s; Activation takes float32, float16 or int8", dtype_name(x.dtype));
  if (o->activation < fb::Activation::MIN || o->activation > fb::Activation::MAX)
    return c.error("activation %d is not a known activation", static_cast<int>(o->activation));
  if (o->activation == fb::Activation::Clip && !(o->activation_min <= o->activation_max))
    return c.error("Clip bounds [%g, %g] are empty", o->activation_min, o->activation_max);
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_rms_norm(const InferContext& c) {
  const auto* o = c.opts<fb::NormOptionsT>();
  const TensorInfo& x = *c.in(0);
  const TensorInfo& scale = *c.in(1);
  if (!dtype_is_float(x.dtype)) return c.unsupported("X is %s; RMSNormalization takes float", dtype_name(x.dtype));
  if (scale.dtype != x.dtype) return c.error("scale is %s but X is %s", dtype_name(scale.dtype), dtype_name(x.dtype));
  if (o->axis < 0 || o->axis >= x.shape.rank) return c.error("axis %d is outside X %s", o->axis, x.shape.str().c_str());
  if (!(o->epsilon >= 0)) return c.error("epsilon %g must be >= 0", o->epsilon);
  Shape inner;
  inner.rank = x.shape.rank - o->axis;
  for (int i = 0; i < inner.rank; ++i) inner[i] = x.shape[o->axis + i];
  Shape bs;
  if (scale.shape.rank > inner.rank || !broadcast_shapes(inner, scale.shape, &bs) || bs != inner)
    return c.error("scale %s does not broadcast to the normalized shape %s", scale.shape.str().c_str(), inner.str().c_str());
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_attention(const InferContext& c) {
  const auto* o = c.opts<fb::AttentionOptionsT>();
  const TensorInfo& q = *c.in(0);
  const TensorInfo& k = *c.in(1);
  const TensorInfo& v = *c.in(2);
  const TensorInfo* bias = c.in(3);
  if (q.shape.rank < 2 || k.shape.rank < 2 || v.shape.rank < 2)
    return c.error("Q %s, K %s and V %s must have rank >= 2", q.shape.str().c_str(), k.shape.str().c_str(),
                   v.shape.str().c_str());
  if (q.dtype != DType::Float32 && q.dtype != DType::Float16 && q.dtype != DType::Int8)
    return c.unsupported("Q is %s; Attention takes float32, float16 or int8", dtype_name(q.dtype));
  if (k.dtype != q.dtype || v.dtype != q.dtype)
    return c.error("Q, K and V must share one dtype (Q is %s)", dtype_name(q.dtype));
  // int8: the bias is int32 in units of the score grid (docs/quantization-scheme.md "int8 Attention")
  const DType bias_dtype = q.dtype == DType::Int8 ? DType::Int32 : q.dtype;
  if (bias && bias->dtype != bias_dtype)
    return c.error("the bias is %s; Attention with %s Q takes a %s bias", dtype_name(bias->dtype), dtype_name(q.dtype),
                   dtype_name(bias_dtype));
  const int64_t lq = q.shape[q.shape.rank - 2], d = q.shape[q.shape.rank - 1];
  const int64_t kd = o->k_transposed ? k.shape[k.shape.rank - 2] : k.shape[k.shape.rank - 1];
  const int64_t lk = o->k_transposed ? k.shape[k.shape.rank - 1] : k.shape[k.shape.rank - 2];
  const int64_t lv = v.shape[v.shape.rank - 2], dv = v.shape[v.shape.rank - 1];
  if (kd != d)
    return c.error("Q %s has depth %lld but K %s (k_transposed=%d) has %lld", q.shape.str().c_str(),
                   static_cast<long long>(d), k.shape.str().c_str(), o->k_transposed, static_cast<long long>(kd));
  if (lv != lk)
    return c.error("K %s (k_transposed=%d) has %lld keys but V %s has %lld rows", k.shape.str().c_str(), o->k_transposed,
                   static_cast<long long>(lk), v.shape.str().c_str(), static_cast<long long>(lv));
  Shape bq, bk, bv, t, batch;
  bq.rank = q.shape.rank - 2;
  bk.rank = k.shape.rank - 2;
  bv.rank = v.shape.rank - 2;
  for (int i = 0; i < bq.rank; ++i) bq[i] = q.shape[i];
  for (int i = 0; i < bk.rank; ++i) bk[i] = k.shape[i];
  for (int i = 0; i < bv.rank; ++i) bv[i] = v.shape[i];
  if (!broadcast_shapes(bq, bk, &t) || !broadcast_shapes(t, bv, &batch))
    return c.error("batch dimensions of Q %s, K %s and V %s do not broadcast", q.shape.str().c_str(), k.shape.str().c_str(),
                   v.shape.str().c_str());
  if (batch.rank + 2 > kMaxRank) return c.unsupported("result rank exceeds %d", kMaxRank);
  Shape logits = batch;
  logits.dims[logits.rank++] = lq;
  logits.dims[logits.rank++] = lk;
  if (bias) {
    Shape bs;
    if (bias->shape.rank > logits.rank || !broadcast_shapes(logits, bias->shape, &bs) || bs != logits)
      return c.error("bias %s does not broadcast to the logits %s", bias->shape.str().c_str(), logits.str().c_str());
  }
  Shape out = batch;
  out.dims[out.rank++] = lq;
  out.dims[out.rank++] = dv;
  c.outputs[0] = {q.dtype, out, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
