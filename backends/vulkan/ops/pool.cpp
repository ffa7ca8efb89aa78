// Pooling on Vulkan (float32): AveragePool / MaxPool (shaders/pool.comp, one invocation per
// output, 1-3 spatial dims) and GlobalAveragePool / GlobalMaxPool (shaders/globalpool.comp, one
// workgroup per plane).
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool pool_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  if (!x || x->shape.rank < 3 || x->shape.rank > 5) return decline(why, "pooling of rank other than 3-5");
  if (q.op == OpType::MaxPool && q.outputs.size() > 1 && qout(q, 1)) return decline(why, "MaxPool Indices output");
  if (q.op == OpType::MaxPool || q.op == OpType::AveragePool) {
    const auto* o = qopts<fb::PoolOptionsT>(q);
    if (!o) return decline(why, "missing options");
    if (o->channels_last) return decline(why, "channels-last layout (compile with --target vulkan for channels-first)");
  }
  return true;
}

Status pool_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const TensorRef& x = *c.in(0);
  const OpType op = c.node->op;
  if (op == OpType::GlobalAveragePool || op == OpType::GlobalMaxPool) {
    int64_t planes = x.shape[0] * x.shape[1], size = x.numel() / (planes ? planes : 1);
    Params p;
    p.u(planes).u(size).u(op == OpType::GlobalMaxPool ? 1 : 0);
    c.rec->dispatch_groups("globalpool", {c.in_id(0), c.out_id(0)}, p, static_cast<uint64_t>(planes));
    return Status::ok();
  }
  const auto& o = *c.opts<fb::PoolOptionsT>();
  const PoolWindow w(x.shape, y->shape, o.kernel_shape, o.strides, o.dilations, o.pads);
  const auto &in = w.in, &out = w.out, &k = w.k, &s = w.s, &dl = w.dl, &pb = w.pb, &pe = w.pe;
  Params p;
  p.u(y->numel());
  for (uint32_t v : in) p.u(v);
  for (uint32_t v : out) p.u(v);
  for (uint32_t v : k) p.u(v);
  for (uint32_t v : s) p.u(v);
  for (uint32_t v : dl) p.u(v);
  for (uint32_t v : pb) p.u(v);
  for (uint32_t v : pe) p.u(v);
  p.u(op == OpType::MaxPool ? 1 : 0).u(o.count_include_pad ? 1 : 0);
  c.rec->dispatch_threads("pool", {c.in_id(0), c.out_id(0)}, p, static_cast<uint64_t>(y->numel()));
  return Status::ok();
}

}  // namespace tern::vk
