// MatMul (numpy semantics, broadcast batch dims, 1-D promotion, fused bias [N] and activation)
// and Gemm (transposes, alpha/beta, C broadcast to [M, N], fused activation) on Vulkan, float32,
// both as strided views handed to shaders/matmul.comp.
#include <algorithm>

#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

Params MatmulDesc::params() const {
  Params p;
  p.u(m).u(n).u(k).u(a_rs).u(a_ks).u(b_ks).u(b_cs).u(batch_rank);
  for (int i = 0; i < 6; ++i) p.u(i < batch_rank ? batch_dims[i] : 1);
  for (int i = 0; i < 6; ++i) p.u(a_bs[i]);
  for (int i = 0; i < 6; ++i) p.u(b_bs[i]);
  p.u(y_bs).u(y_rs).u(y_cs).f(alpha).f(beta).u(has_c ? 1 : 0).u(c_rs).u(c_cs).u(c_bs).u(act).f(act_a).f(act_b);
  p.u(a_off).u(b_off).u(c_off).u(y_off);
  return p;
}

void MatmulDesc::record(Recorder& rec, int32_t a, int32_t b, int32_t c, int32_t y) const {
  rec.dispatch("matmul", {a, b, has_c ? c : -1, y}, params(), (n + 15) / 16, (m + 15) / 16, batch());
}

bool matmul_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* a = qin(q, 0);
  const TensorInfo* b = qin(q, 1);
  const TensorInfo* y = qout(q, 0);
  if (!a || !b || !y) return decline(why, "missing operand");
  // One invocation walks all of K (tiles of 16 plus the loop over each tile): within kLoopBudget.
  const auto* go = q.op == OpType::Gemm ? qopts<fb::GemmOptionsT>(q) : nullptr;
  const int64_t k = a->shape.rank == 0 ? 1 : go && go->trans_a ? a->shape[0] : a->shape[a->shape.rank - 1];
  if (k * 17 / 16 + 16 > kLoopBudget)
    return decline(why, "inner dimension " + std::to_string(k) + " above what one invocation may loop over (vk_ops.h kLoopBudget)");
  if (q.op == OpType::MatMul) {
    int batch_rank = std::max(a->shape.rank, b->shape.rank) - 2;
    if (batch_rank > 6) return decline(why, "more than 6 batch dims");
    int64_t batch = 1;
    for (int i = 0; i + 2 < y->shape.rank; ++i) batch *= y->shape[i];
    if (a->shape.rank == 1 || b->shape.rank == 1) batch = 1;
    if (batch > 65535) return decline(why, "batch above 65535");
    return true;
  }
  if (a->shape.rank != 2 || b->shape.rank != 2) return decline(why, "Gemm operands must be 2-D");
  const TensorInfo* c = qin(q, 2);
  if (c && c->shape.rank > 2) return decline(why, "C of rank above 2");
  return true;
}

MatmulDesc describe_matmul(const OpCall& c) {
  const TensorRef* y = c.out(0);
  const TensorRef& a = *c.in(0);
  const TensorRef& b = *c.in(1);
  MatmulDesc d;
  if (c.node->op == OpType::Gemm) {
    const auto* o = c.opts<fb::GemmOptionsT>();
    const bool ta = o && o->trans_a, tb = o && o->trans_b;
    d.m = static_cast<uint32_t>(y->shape[0]);
    d.n = static_cast<uint32_t>(y->shape[1]);
    d.k = static_cast<uint32_t>(ta ? a.shape[0] : a.shape[1]);
    d.a_rs = ta ? 1 : d.k, d.a_ks = ta ? d.m : 1;
    d.b_ks = tb ? 1 : d.n, d.b_cs = tb ? d.k : 1;
    d.y_rs = d.n, d.y_cs = 1, d.y_bs = d.m * d.n;
    if (o) {
      d.alpha = o->alpha, d.beta = o->beta;
      d.act = static_cast<int>(o->activation), d.act_a = o->activation_min, d.act_b = o->activation_max;
    }
    if (const TensorRef* cm = c.in(2)) {
      d.has_c = true;
      // C broadcast to [M, N]: right-aligned, stride 0 on size-1 dims.
      const Shape& s = cm->shape;
      if (s.rank == 2) {
        d.c_rs = s[0] == 1 ? 0 : static_cast<uint32_t>(s[1]);
        d.c_cs = s[1] == 1 ? 0 : 1;
      } else if (s.rank == 1) {
        d.c_cs = s[0] == 1 ? 0 : 1;
      }
    }
    return d;
  }
  const Shape& sa = a.shape;
  const Shape& sb = b.shape;
  const bool a_vec = sa.rank == 1, b_vec = sb.rank == 1;
  d.m = static_cast<uint32_t>(a_vec ? 1 : sa[sa.rank - 2]);
  d.k = static_cast<uint32_t>(sa[sa.rank - 1]);
  d.n = static_cast<uint32_t>(b_vec ? 1 : sb[sb.rank - 1]);
  d.a_rs = d.k, d.a_ks = 1;
  d.b_ks = b_vec ? 1 : d.n, d.b_cs = 1;
  d.y_rs = d.n, d.y_cs = 1, d.y_bs = d.m * d.n;
  const int ra = a_vec ? 0 : sa.rank - 2, rb = b_vec ? 0 : sb.rank - 2;
  d.batch_rank = std::max(ra, rb);
  // Batch strides in matrices of each operand, right-aligned, 0 where the operand broadcasts.
  uint32_t sta = d.m * d.k, stb = d.k * d.n;
  for (int i = d.batch_rank - 1; i >= 0; --i) {
    int ia = i - (d.batch_rank - ra), ib = i - (d.batch_rank - rb);
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    d.batch_dims[i] = static_cast<uint32_t>(std::max(da, db));
    d.a_bs[i] = da == 1 ? 0 : sta;
    d.b_bs[i] = db == 1 ? 0 : stb;
    sta *= static_cast<uint32_t>(da);
    stb *= static_cast<uint32_t>(db);
  }
  if (const auto* o = c.opts<fb::MatMulOptionsT>()) d.act = static_cast<int>(o->activation), d.act_a = o->activation_min, d.act_b = o->activation_max;
  if (c.in(2)) {
    d.has_c = true;
    d.c_rs = 0, d.c_cs = 1, d.c_bs = 0;
  }
  return d;
}

Status matmul_record(const OpCall& c) {
  if (!c.out(0)) return Status::ok();
  describe_matmul(c).record(*c.rec, c.in_id(0), c.in_id(1), c.in_id(2), c.out_id(0));
  return Status::ok();
}

}  // namespace tern::vk
