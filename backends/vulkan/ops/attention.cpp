// Attention on Vulkan (float32): Y = softmax(scale * Q @ K^T + bias) @ V as three dispatches over
// two device-only scratch tensors: the logits S = scale * Q K^T + bias (shaders/matmul.comp, K^T
// read through strides), P = softmax(S) over Lk (shaders/softmax.comp), Y = P V (matmul.comp).
// Batch dims broadcast as in MatMul.
#include <algorithm>

#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {

// The output batch: leading dims of Q, K, V broadcast together.
Shape out_batch(const Shape& q, const Shape& k, const Shape& v) {
  Shape b;
  b.rank = std::max({q.rank, k.rank, v.rank}) - 2;
  for (int i = 0; i < b.rank; ++i) {
    int64_t d = 1;
    for (const Shape* s : {&q, &k, &v}) {
      int j = i - (b.rank - (s->rank - 2));
      if (j >= 0 && (*s)[j] != 1) d = (*s)[j];
    }
    b[i] = d;
  }
  return b;
}

// Per-batch-dim strides (in elements) of operand `s` (its last two dims a matrix of `mat`
// elements) read against `batch`: 0 where the operand has no such dim or size 1.
void batch_strides(const Shape& s, int matrix_dims, const Shape& batch, uint32_t* st) {
  int64_t mat = 1;
  for (int i = s.rank - matrix_dims; i < s.rank; ++i) mat *= s[i];
  int64_t acc = mat;
  const int sb = s.rank - matrix_dims;
  for (int i = batch.rank - 1; i >= 0; --i) {
    int j = i - (batch.rank - sb);
    if (j < 0 || s[j] == 1) {
      st[i] = 0;
    } else {
      st[i] = static_cast<uint32_t>(acc);
    }
    if (j >= 0) acc *= s[j];
  }
}

}  // namespace

bool attention_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo *qq = qin(q, 0), *k = qin(q, 1), *v = qin(q, 2), *bias = qin(q, 3);
  if (!qq || !k || !v || !qopts<fb::AttentionOptionsT>(q)) return decline(why, "missing input or options");
  Shape b = out_batch(qq->shape, k->shape, v->shape);
  if (b.rank > 6) return decline(why, "more than 6 batch dims");
  if (b.numel() > 65535) return decline(why, "batch above 65535");
  if (bias) {
    // The logits' bias is read with one stride per row, column and flattened batch: its batch
    // part must be absent / all ones, or equal to the output batch.
    // (right-aligned, missing dims counting as 1).
    int bb = bias->shape.rank - 2;
    bool ones = true, equal = bb <= b.rank;
    for (int i = 0; i < b.rank; ++i) {
      int j = i - (b.rank - bb);
      int64_t d = j >= 0 ? bias->shape[j] : 1;
      ones &= d == 1;
      if (equal) equal &= d == b[i];
    }
    if (bb > 0 && !ones && !equal) return decline(why, "bias that broadcasts over part of the batch");
  }
  return true;
}

Status attention_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  // Copies: scratch() below may move the tensor table that c.in() points into.
  const Shape sq = c.in(0)->shape, sk = c.in(1)->shape, sv = c.in(2)->shape;
  const auto& o = *c.opts<fb::AttentionOptionsT>();
  const Shape batch = out_batch(sq, sk, sv);
  const uint32_t lq = static_cast<uint32_t>(sq[sq.rank - 2]), d = static_cast<uint32_t>(sq[sq.rank - 1]);
  const uint32_t lk = static_cast<uint32_t>(o.k_transposed ? sk[sk.rank - 1] : sk[sk.rank - 2]);
  const uint32_t dv = static_cast<uint32_t>(sv[sv.rank - 1]);
  Shape ls = batch;
  ls.rank = batch.rank + 2;
  ls[batch.rank] = lq;
  ls[batch.rank + 1] = lk;
  const int32_t logits = c.rec->scratch(DType::Float32, ls);
  const int32_t probs = c.rec->scratch(DType::Float32, ls);

  MatmulDesc s;
  s.m = lq, s.n = lk, s.k = d;
  s.a_rs = d, s.a_ks = 1;
  if (o.k_transposed) s.b_ks = lk, s.b_cs = 1;
  else s.b_ks = 1, s.b_cs = d;
  s.batch_rank = batch.rank;
  for (int i = 0; i < batch.rank; ++i) s.batch_dims[i] = static_cast<uint32_t>(batch[i]);
  batch_strides(sq, 2, batch, s.a_bs);
  batch_strides(sk, 2, batch, s.b_bs);
  s.y_bs = lq * lk, s.y_rs = lk, s.y_cs = 1;
  s.alpha = o.scale;
  if (const TensorRef* bias = c.in(3)) {
    const Shape& bs = bias->shape;
    s.has_c = true;
    s.beta = 1;
    int64_t rows = bs.rank >= 2 ? bs[bs.rank - 2] : 1, cols = bs.rank >= 1 ? bs[bs.rank - 1] : 1;
    s.c_cs = cols == 1 ? 0 : 1;
    s.c_rs = rows == 1 ? 0 : static_cast<uint32_t>(cols);
    int64_t bn = 1;
    for (int i = 0; i < bs.rank - 2; ++i) bn *= bs[i];
    s.c_bs = bn == 1 ? 0 : static_cast<uint32_t>(rows * cols);
  }
  s.record(*c.rec, c.in_id(0), c.in_id(1), c.in_id(3), logits);

  Params p;
  const uint64_t rows = static_cast<uint64_t>(batch.numel()) * lq;
  p.u(rows).u(lk).u(1).u(0);
  c.rec->dispatch_groups("softmax", {logits, probs}, p, rows);

  MatmulDesc m;
  m.m = lq, m.n = dv, m.k = lk;
  m.a_rs = lk, m.a_ks = 1;
  m.b_ks = dv, m.b_cs = 1;
  m.batch_rank = batch.rank;
  for (int i = 0; i < batch.rank; ++i) m.batch_dims[i] = static_cast<uint32_t>(batch[i]);
  Shape ps = ls;
  batch_strides(ps, 2, batch, m.a_bs);
  batch_strides(sv, 2, batch, m.b_bs);
  m.y_bs = lq * dv, m.y_rs = dv, m.y_cs = 1;
  m.record(*c.rec, probs, c.in_id(2), -1, c.out_id(0));
  return Status::ok();
}

}  // namespace tern::vk
