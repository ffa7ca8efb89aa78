// ReduceMean / Sum / Max / Min / Prod on Vulkan (float32, axes from the options), shaders/reduce.comp:
// one workgroup per output element, a tree reduction over its reduced elements.
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool reduce_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  if (!x || x->shape.rank > 8) return decline(why, "rank above 8");
  if (q.inputs.size() > 1 && qin(q, 1)) return decline(why, "axes given as an input tensor");
  if (!qopts<fb::ReduceOptionsT>(q)) return decline(why, "missing options");
  return true;
}

Status reduce_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const Shape& s = c.in(0)->shape;
  const auto& o = *c.opts<fb::ReduceOptionsT>();
  bool reduced[kMaxRank] = {};
  if (o.axes.empty())
    for (int i = 0; i < s.rank; ++i) reduced[i] = true;
  for (int a : o.axes) reduced[a < 0 ? a + s.rank : a] = true;
  int64_t strides[kMaxRank];
  row_major_strides(s, strides);
  Params p;
  p.u(y->numel()).u(s.rank);
  for (int i = 0; i < 8; ++i) p.u(i < s.rank ? (reduced[i] ? 1 : s[i]) : 1);
  for (int i = 0; i < 8; ++i) p.u(i < s.rank ? strides[i] : 0);
  int rr = 0;
  uint32_t rd[8] = {1, 1, 1, 1, 1, 1, 1, 1}, rs[8] = {};
  int64_t cnt = 1;
  for (int i = 0; i < s.rank; ++i)
    if (reduced[i]) {
      rd[rr] = static_cast<uint32_t>(s[i]);
      rs[rr] = static_cast<uint32_t>(strides[i]);
      cnt *= s[i];
      ++rr;
    }
  p.u(rr);
  for (uint32_t v : rd) p.u(v);
  for (uint32_t v : rs) p.u(v);
  int op = 0;
  switch (c.node->op) {
    case OpType::ReduceMean: op = 0; break;
    case OpType::ReduceSum: op = 1; break;
    case OpType::ReduceMax: op = 2; break;
    case OpType::ReduceMin: op = 3; break;
    default: op = 4; break;
  }
  p.u(op).u(cnt);
  c.rec->dispatch_groups("reduce", {c.in_id(0), c.out_id(0)}, p, static_cast<uint64_t>(y->numel()));
  return Status::ok();
}

}  // namespace tern::vk
