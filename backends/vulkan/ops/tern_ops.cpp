// The tern ops on Vulkan (float32): SelectiveScan as one invocation per (batch, channel) walking
// time with its state in registers (n <= 64, shaders/selective_scan.comp), LMU as one workgroup
// per (batch, channel) with the state in shared memory (n <= 128, shaders/lmu.comp), LIF as one invocation per neuron walking time (shaders/lif.comp).
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {
constexpr int64_t kMaxScanState = 64;   // selective_scan.comp's register array
// lmu.comp holds up to 1024 state rows in shared memory, but on lavapipe orders of 256 give wrong
// results (tests/vulkan reproduces it; 130 is right): until that is understood, larger memories
// stay on the CPU.
constexpr int64_t kMaxLmuState = 128;
}

bool tern_ops_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  if (!x) return decline(why, "missing input");
  if (q.op == OpType::LIF) {
    const auto* o = qopts<fb::LIFOptionsT>(q);
    if (!o || o->time_axis < 0 || o->time_axis >= x->shape.rank) return decline(why, "bad time_axis");
    return true;
  }
  if (x->shape.rank != 3) return decline(why, "input of rank other than 3");
  const TensorInfo* a = q.op == OpType::SelectiveScan ? qin(q, 2) : qin(q, 1);
  if (!a || a->shape.rank != 2) return decline(why, "A must be 2-D");
  const int64_t n = q.op == OpType::SelectiveScan ? a->shape[1] : a->shape[0];
  if (q.op == OpType::SelectiveScan && n > kMaxScanState) return decline(why, "state size above 64");
  if (q.op == OpType::LMU && n > kMaxLmuState) return decline(why, "LMU order above 128 (known Vulkan kernel issue)");
  if (q.op == OpType::SelectiveScan && !qopts<fb::SelectiveScanOptionsT>(q)) return decline(why, "missing options");
  return true;
}

Status tern_ops_record(const OpCall& c) {
  const TensorRef& x = *c.in(0);
  if (c.node->op == OpType::SelectiveScan) {
    const int64_t nb = x.shape[0], L = x.shape[1], d = x.shape[2], n = c.in(2)->shape[1];
    const auto& o = *c.opts<fb::SelectiveScanOptionsT>();
    Params p;
    p.u(nb * d).u(L).u(d).u(n).u(o.delta_softplus ? 1 : 0).u(c.in_id(5) >= 0).u(c.in_id(6) >= 0).u(c.in_id(7) >= 0);
    p.u(c.in_id(8) >= 0).u(c.out_id(0) >= 0).u(c.out_id(1) >= 0);
    c.rec->dispatch_threads("selective_scan",
                            {c.in_id(0), c.in_id(1), c.in_id(2), c.in_id(3), c.in_id(4), c.in_id(5), c.in_id(6), c.in_id(7),
                             c.in_id(8), c.out_id(0), c.out_id(1)},
                            p, static_cast<uint64_t>(nb * d), 64);
    return Status::ok();
  }
  if (c.node->op == OpType::LMU) {
    const int64_t nb = x.shape[0], L = x.shape[1], ch = x.shape[2], n = c.in(1)->shape[0];
    Params p;
    p.u(nb * ch).u(L).u(ch).u(n).u(c.in_id(3) >= 0).u(c.out_id(0) >= 0).u(c.out_id(1) >= 0);
    c.rec->dispatch_groups("lmu", {c.in_id(0), c.in_id(1), c.in_id(2), c.in_id(3), c.out_id(0), c.out_id(1)}, p,
                           static_cast<uint64_t>(nb * ch));
    return Status::ok();
  }
  const auto& o = *c.opts<fb::LIFOptionsT>();
  int64_t outer = 1, steps = 1, inner = 1;
  for (int i = 0; i < x.shape.rank; ++i) (i < o.time_axis ? outer : i == o.time_axis ? steps : inner) *= x.shape[i];
  Params p;
  p.u(outer * inner).u(outer).u(steps).u(inner).f(o.tau).f(o.v_threshold).f(o.v_reset).u(o.soft_reset ? 1 : 0);
  p.u(c.in_id(1) >= 0 ? 1 : 0).u(c.out_id(0) >= 0 ? 1 : 0).u(c.out_id(1) >= 0 ? 1 : 0);
  c.rec->dispatch_threads("lif", {c.in_id(0), c.in_id(1), c.out_id(0), c.out_id(1)}, p, static_cast<uint64_t>(outer * inner), 64);
  return Status::ok();
}

}  // namespace tern::vk
