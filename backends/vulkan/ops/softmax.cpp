// Softmax / LogSoftmax along one axis on Vulkan (float32), shaders/softmax.comp: one workgroup
// per row of the [outer, n, inner] view.
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool softmax_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  if (!qopts<fb::AxisOptionsT>(q)) return decline(why, "missing axis option");
  return true;
}

Status softmax_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const Shape& s = c.in(0)->shape;
  int axis = c.opts<fb::AxisOptionsT>()->axis;
  if (axis < 0) axis += s.rank;
  if (s.rank == 0) axis = 0;
  int64_t outer = 1, inner = 1, n = s.rank ? s[axis] : 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank; ++i) inner *= s[i];
  Params p;
  p.u(outer * inner).u(n).u(inner).u(c.node->op == OpType::LogSoftmax ? 1 : 0);
  c.rec->dispatch_groups("softmax", {c.in_id(0), c.out_id(0)}, p, static_cast<uint64_t>(outer * inner));
  return Status::ok();
}

}  // namespace tern::vk
