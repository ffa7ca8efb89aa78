// int8 Conv, Gemm and MatMul on Vulkan (shaders/q8_conv.comp, shaders/q8_matmul.comp), bit-exact
// with backends/reference/ops/conv_q8.cpp and gemm_q8.cpp: int32 accumulation of
// (x - z_x)(w - z_w), int32 bias, requantization per output channel (Conv) or column (Gemm /
// MatMul) with the multipliers ref::make_multiplier computes here, fused Relu / Clip as integer
// bounds. The per-channel parameters are a constant of 4 ints per channel (mult, shift, weight zero
// point, unused); a per-tensor B or W gets one set.
#include <algorithm>

#include "ops/op_defs.h"
#include "vulkan/ops/q8_common.h"

namespace tern::vk {

namespace {

bool q8_bounds_ok(fb::Activation a) { return a == fb::Activation::None || a == fb::Activation::Relu || a == fb::Activation::Clip; }

// Channel parameters of weights / B along its quantization axis: per channel c of `channels`, or a
// single set when per tensor. s_in, s_out: the other operand's and the output's scales.
int32_t channel_params(Recorder& rec, const TensorRef& w, int64_t channels, float s_in, float s_out, bool* per_channel) {
  std::vector<int32_t> v;
  *per_channel = w.quant->count > 1;
  const int64_t n = *per_channel ? channels : 1;
  for (int64_t c = 0; c < n; ++c) {
    put_multiplier(&v, ref::make_multiplier(s_in, ref::q_scale(w, c), s_out));
    v.push_back(ref::q_zero(w, c));
    v.push_back(0);
  }
  return rec.constant(DType::Int32, Shape{static_cast<int64_t>(v.size())}, v.data());
}

Status check_quant(const OpCall& c, const TensorRef* t, const char* what) {
  if (!t) return Status::ok();
  if (!q8_has(t)) return c.error((std::string(what) + " is int8 without quantization parameters").c_str());
  for (int i = 0; i < t->quant->count; ++i)
    if (t->quant->zero_point[i] < quant::kQMin || t->quant->zero_point[i] > quant::kQMax)
      return c.error((std::string(what) + " has a zero point outside [-128, 127]").c_str());
  return Status::ok();
}

// The record functions copy the TensorRefs they use: Recorder::constant may move the tensor table.
Status record_conv(const OpCall& c) {
  const TensorRef yv = *c.out(0), x = *c.in(0), w = *c.in(1);
  const TensorRef* y = &yv;
  const bool b = c.in(2) != nullptr;
  TERN_RETURN_IF_ERROR(check_quant(c, &x, "input X"));
  TERN_RETURN_IF_ERROR(check_quant(c, &w, "weight W"));
  TERN_RETURN_IF_ERROR(check_quant(c, y, "output Y"));
  if (x.quant->count != 1 || y->quant->count != 1) return c.error("X and Y must be quantized per tensor");
  const int64_t cout = y->shape[1];
  if (w.quant->count != 1 && (w.quant->axis != 0 || w.quant->count != cout))
    return c.error("W must be quantized per tensor or per output channel (axis 0)");
  const auto& o = *c.opts<fb::ConvOptionsT>();
  const float s_x = ref::q_scale(x), s_y = ref::q_scale(*y);
  int32_t lo, hi;
  if (!ref::q8_activation_bounds(ref::activation_of(o), s_y, ref::q_zero(*y), &lo, &hi))
    return c.error("fused activation has no int8 form");
  bool per_channel = false;
  const int32_t ch = channel_params(*c.rec, w, cout, s_x, s_y, &per_channel);
  const int sp = x.shape.rank - 2;
  uint32_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  for (int i = 0; i < sp; ++i) {
    int j = 3 - sp + i;
    in[j] = static_cast<uint32_t>(x.shape[2 + i]);
    out[j] = static_cast<uint32_t>(y->shape[2 + i]);
    k[j] = static_cast<uint32_t>(w.shape[2 + i]);
    if (i < static_cast<int>(o.strides.size())) s[j] = static_cast<uint32_t>(o.strides[i]);
    if (i < static_cast<int>(o.dilations.size())) dl[j] = static_cast<uint32_t>(o.dilations[i]);
    if (i < static_cast<int>(o.pads.size())) pad[j] = static_cast<uint32_t>(o.pads[i]);
  }
  Params p;
  const uint64_t total = static_cast<uint64_t>(y->numel());
  p.u(total).u(x.shape[1]).u(cout).u(o.group);
  for (uint32_t v : in) p.u(v);
  for (uint32_t v : out) p.u(v);
  for (uint32_t v : k) p.u(v);
  for (uint32_t v : s) p.u(v);
  for (uint32_t v : dl) p.u(v);
  for (uint32_t v : pad) p.u(v);
  p.u(b ? 1 : 0).u(ref::q_zero(x)).u(ref::q_zero(*y)).u(lo).u(hi).u(per_channel ? 1 : 0);
  c.rec->dispatch_threads("q8_conv", {c.in_id(0), c.in_id(1), c.in_id(2), ch, c.out_id(0)}, p, total);
  return Status::ok();
}

Status record_matmul(const OpCall& c) {
  const TensorRef yv = *c.out(0), a = *c.in(0), b = *c.in(1);
  const TensorRef* y = &yv;
  const TensorRef bias_v = c.in(2) ? *c.in(2) : TensorRef{};
  const TensorRef* bias = c.in(2) ? &bias_v : nullptr;
  const bool gemm = c.node->op == OpType::Gemm;
  const auto* go = gemm ? c.opts<fb::GemmOptionsT>() : nullptr;
  const auto* mo = gemm ? nullptr : c.opts<fb::MatMulOptionsT>();
  TERN_RETURN_IF_ERROR(check_quant(c, &a, "input A"));
  TERN_RETURN_IF_ERROR(check_quant(c, &b, "input B"));
  TERN_RETURN_IF_ERROR(check_quant(c, y, "output Y"));
  if (a.quant->count != 1 || y->quant->count != 1) return c.error("A and Y must be quantized per tensor");
  const int b_col_axis = go && go->trans_b ? 0 : 1;
  if (b.quant->count != 1 && (b.shape.rank != 2 || b.quant->axis != b_col_axis))
    return c.error("B must be quantized per tensor or per output column");
  if (go && (go->alpha != 1.0f || (bias && go->beta != 1.0f))) return c.error("an int8 Gemm needs alpha = beta = 1");
  const MatmulDesc d = describe_matmul(c);
  if (b.quant->count != 1 && b.quant->count != static_cast<int>(d.n)) return c.error("B's channel count is not N");
  const float s_a = ref::q_scale(a), s_y = ref::q_scale(*y);
  int32_t lo, hi;
  const ref::ActivationParams act = go ? ref::activation_of(*go) : mo ? ref::activation_of(*mo) : ref::ActivationParams{};
  if (!ref::q8_activation_bounds(act, s_y, ref::q_zero(*y), &lo, &hi)) return c.error("fused activation has no int8 form");
  bool per_col = false;
  const int32_t ch = channel_params(*c.rec, b, d.n, s_a, s_y, &per_col);
  // The bias: Gemm's C as [N] (or [1, N]) or a scalar; MatMul's [N].
  const uint32_t bias_cs = bias && bias->numel() == static_cast<int64_t>(d.n) ? 1 : 0;
  Params p;
  p.u(d.m).u(d.n).u(d.k).u(d.a_rs).u(d.a_ks).u(d.b_ks).u(d.b_cs).u(d.batch_rank);
  for (int i = 0; i < 6; ++i) p.u(i < d.batch_rank ? d.batch_dims[i] : 1);
  for (int i = 0; i < 6; ++i) p.u(d.a_bs[i]);
  for (int i = 0; i < 6; ++i) p.u(d.b_bs[i]);
  p.u(d.y_bs).u(d.y_rs).u(d.y_cs).u(bias ? 1 : 0).u(bias_cs);
  p.u(ref::q_zero(a)).u(ref::q_zero(*y)).u(lo).u(hi).u(0).u(per_col ? 1 : 0);
  p.u(d.a_off).u(d.b_off).u(d.y_off);
  c.rec->dispatch("q8_matmul", {c.in_id(0), c.in_id(1), c.in_id(2), ch, c.out_id(0)}, p, (d.n + 15) / 16, (d.m + 15) / 16,
                  d.batch());
  return Status::ok();
}

}  // namespace

bool q8_linear_supports(const NodeQuery& q, std::string* why) {
  if (!q8_common(q, why, {0, 1})) return false;
  const TensorInfo* x = qin(q, 0);
  const TensorInfo* w = qin(q, 1);
  const TensorInfo* b = qin(q, 2);
  if (b && b->dtype != DType::Int32) return decline(why, "int8 kernel: the bias is not int32");
  if (q.op == OpType::Conv) {
    const auto* o = qopts<fb::ConvOptionsT>(q);
    if (!o) return decline(why, "missing options");
    if (x->shape.rank < 3 || x->shape.rank > 5 || w->shape.rank != x->shape.rank) return decline(why, "Conv of rank other than 3-5");
    if (o->channels_last) return decline(why, "channels-last layout (the int8 Conv is NCHW)");
    if (!q8_bounds_ok(o->activation)) return decline(why, "fused activation with no int8 form");
    // Same loop budget as conv.comp (ops/conv.cpp).
    int64_t edges = 1;
    for (int i = w->shape.rank - 1; i >= 2; --i) edges = w->shape[i] * edges + 1;
    if (w->shape[1] * edges > kLoopBudget)
      return decline(why, "input channels x kernel taps above what one invocation may loop over (vk_ops.h kLoopBudget)");
    return true;
  }
  const TensorInfo* y = qout(q, 0);
  const auto* go = q.op == OpType::Gemm ? qopts<fb::GemmOptionsT>(q) : nullptr;
  const auto* mo = q.op == OpType::MatMul ? qopts<fb::MatMulOptionsT>(q) : nullptr;
  if (go && !q8_bounds_ok(go->activation)) return decline(why, "fused activation with no int8 form");
  if (mo && !q8_bounds_ok(mo->activation)) return decline(why, "fused activation with no int8 form");
  if (go && (go->alpha != 1.0f || (b && go->beta != 1.0f))) return decline(why, "an int8 Gemm needs alpha = beta = 1");
  const int64_t k = x->shape.rank == 0 ? 1 : go && go->trans_a ? x->shape[0] : x->shape[x->shape.rank - 1];
  if (k + 16 > kLoopBudget)
    return decline(why, "inner dimension " + std::to_string(k) + " above what one invocation may loop over (vk_ops.h kLoopBudget)");
  if (q.op == OpType::Gemm) {
    if (x->shape.rank != 2 || w->shape.rank != 2) return decline(why, "Gemm operands must be 2-D");
    if (b && (b->shape.rank > 2 || (b->shape.rank == 2 && b->shape[0] != 1))) return decline(why, "int8 Gemm: C must be [N] or a scalar");
    return true;
  }
  if (std::max(x->shape.rank, w->shape.rank) - 2 > 6) return decline(why, "more than 6 batch dims");
  int64_t batch = 1;
  for (int i = 0; i + 2 < y->shape.rank; ++i) batch *= y->shape[i];
  if (x->shape.rank == 1 || w->shape.rank == 1) batch = 1;
  if (batch > 65535) return decline(why, "batch above 65535");
  return true;
}

Status q8_linear_record(const OpCall& c) {
  if (!c.out(0)) return Status::ok();
  return c.node->op == OpType::Conv ? record_conv(c) : record_matmul(c);
}

}  // namespace tern::vk
