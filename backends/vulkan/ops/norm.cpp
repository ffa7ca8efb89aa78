// Normalizations on Vulkan (float32): LayerNormalization, RMSNormalization, GroupNormalization
// and InstanceNormalization on shaders/norm.comp (one workgroup per normalized row, two-pass
// statistics), BatchNormalization (inference) on shaders/batchnorm.comp.
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool norm_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  if (!x) return decline(why, "missing input");
  if (q.op == OpType::BatchNormalization) {
    for (size_t i = 1; i < 5; ++i)
      if (!qin(q, i)) return decline(why, "BatchNormalization needs scale, B, mean and var");
    if (q.outputs.size() > 1)
      for (size_t i = 1; i < q.outputs.size(); ++i)
        if (qout(q, i)) return decline(why, "training-mode outputs");
    if (x->shape.rank < 2) return decline(why, "input of rank below 2");
    return true;
  }
  if (!qopts<fb::NormOptionsT>(q)) return decline(why, "missing options");
  if (qopts<fb::NormOptionsT>(q)->channels_last)
    return decline(why, "channels-last layout (compile with --target vulkan for channels-first)");
  for (size_t i = 1; i < q.outputs.size(); ++i)
    if (qout(q, i)) return decline(why, "Mean / InvStdDev outputs");
  if (q.op == OpType::LayerNormalization || q.op == OpType::RMSNormalization) {
    int axis = qopts<fb::NormOptionsT>(q)->axis;
    if (axis < 0) axis += x->shape.rank;
    int64_t inner = 1;
    for (int i = axis; i < x->shape.rank; ++i) inner *= x->shape[i];
    for (size_t i = 1; i < 3; ++i)
      if (const TensorInfo* s = qin(q, i); s && s->shape.numel() != inner && s->shape.numel() != 1)
        return decline(why, "scale/bias that broadcast partially over the normalized shape");
    return true;
  }
  if (x->shape.rank < 2) return decline(why, "input of rank below 2");
  return true;
}

Status norm_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const TensorRef& x = *c.in(0);
  const Shape& s = x.shape;
  if (c.node->op == OpType::BatchNormalization) {
    const auto* o = c.opts<fb::NormOptionsT>();
    int64_t spatial = 1;
    for (int i = 2; i < s.rank; ++i) spatial *= s[i];
    Params p;
    p.u(x.numel()).u(s[1]).u(spatial).f(o ? o->epsilon : 1e-5f);
    c.rec->dispatch_threads("batchnorm", {c.in_id(0), c.in_id(1), c.in_id(2), c.in_id(3), c.in_id(4), c.out_id(0)}, p,
                            static_cast<uint64_t>(x.numel()));
    return Status::ok();
  }
  const auto& o = *c.opts<fb::NormOptionsT>();
  int64_t rows = 1, len = 1, groups = 1, cpg = 0, spatial = 1;
  bool per_channel = false, rms = c.node->op == OpType::RMSNormalization;
  int32_t scale = c.in_id(1), bias = c.in_id(2);
  if (rms) bias = -1;
  if (c.node->op == OpType::LayerNormalization || rms) {
    int axis = o.axis < 0 ? o.axis + s.rank : o.axis;
    for (int i = 0; i < s.rank; ++i) (i < axis ? rows : len) *= s[i];
  } else {
    groups = c.node->op == OpType::InstanceNormalization ? s[1] : o.num_groups;
    for (int i = 2; i < s.rank; ++i) spatial *= s[i];
    cpg = s[1] / groups;
    rows = s[0] * groups;
    len = cpg * spatial;
    per_channel = true;
  }
  int64_t scale_n = scale >= 0 ? c.rec->tensor(scale).numel() : 1;
  Params p;
  p.u(rows).u(len).f(o.epsilon).u(per_channel ? 1 : 0).u(rms ? 1 : 0).u(scale >= 0 ? 1 : 0).u(bias >= 0 ? 1 : 0);
  p.u(scale_n).u(groups).u(cpg).u(spatial).u(bias >= 0 ? c.rec->tensor(bias).numel() : 1);
  c.rec->dispatch_groups("norm", {c.in_id(0), scale, bias, c.out_id(0)}, p, static_cast<uint64_t>(rows));
  return Status::ok();
}

}  // namespace tern::vk
