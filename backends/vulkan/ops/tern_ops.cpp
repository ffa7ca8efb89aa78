// The tern ops on Vulkan: SelectiveScan as one invocation per (batch, channel) walking time with
// its state in registers (n <= 64, shaders/selective_scan.comp), LMU as one workgroup per
// (batch, channel) (shaders/lmu.comp: where its state lives), both walking time in chunks of
// dispatches within lavapipe's loop limit (vk_ops.h kLoopBudget); LIF as one invocation per
// neuron walking time (shaders/lif.comp).
#include <algorithm>
#include <string>

#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {
constexpr int64_t kMaxScanState = 64;  // selective_scan.comp's register array
// lmu.comp: workgroup size, rows of state in shared memory, inner-loop unrolling.
constexpr int64_t kLmuLocal = 256, kLmuShared = 1024, kLmuUnroll = 8;

// Back edges of one time step in one lmu.comp invocation (rows loop, unrolled and tail loops of
// each row, the time loop).
int64_t lmu_step_cost(int64_t n) {
  const int64_t rows = (n + kLmuLocal - 1) / kLmuLocal;
  return rows * (1 + (n - 1) / kLmuUnroll + (n - 1) % kLmuUnroll) + 1;
}
// Time steps per lmu.comp dispatch within kLoopBudget (vk_ops.h; 0: not even one fits).
int64_t lmu_chunk(int64_t n) {
  const int64_t edges_outside = 2 * ((n + kLmuLocal - 1) / kLmuLocal);  // state load and store loops
  return std::max<int64_t>(0, (kLoopBudget - edges_outside) / lmu_step_cost(n));
}
// Time steps per selective_scan.comp dispatch: the state loop (n) and the time loop per step,
// plus the state load and store loops.
int64_t scan_chunk(int64_t n) { return std::max<int64_t>(1, (kLoopBudget - 2 * n) / (n + 1)); }
}  // namespace

bool tern_ops_supports(const NodeQuery& q, std::string* why) {
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  if (!x) return decline(why, "missing input");
  if (q.op == OpType::LIF) {
    const auto* o = qopts<fb::LIFOptionsT>(q);
    if (!o || o->time_axis < 0 || o->time_axis >= x->shape.rank) return decline(why, "bad time_axis");
    if (x->shape[o->time_axis] > kLoopBudget)
      return decline(why, "more than " + std::to_string(kLoopBudget) + " time steps (lif.comp walks them in one loop)");
    return true;
  }
  if (x->shape.rank != 3) return decline(why, "input of rank other than 3");
  const TensorInfo* a = q.op == OpType::SelectiveScan ? qin(q, 2) : qin(q, 1);
  if (!a || a->shape.rank != 2) return decline(why, "A must be 2-D");
  const int64_t n = q.op == OpType::SelectiveScan ? a->shape[1] : a->shape[0];
  if (q.op == OpType::SelectiveScan && n > kMaxScanState) return decline(why, "state size above 64");
  if (q.op == OpType::LMU && lmu_chunk(n) < 1)
    return decline(why, "LMU order " + std::to_string(n) + ": one step exceeds the loop budget of lmu.comp");
  if (q.op == OpType::SelectiveScan && !qopts<fb::SelectiveScanOptionsT>(q)) return decline(why, "missing options");
  return true;
}

Status tern_ops_record(const OpCall& c) {
  const TensorRef& x = *c.in(0);
  if (c.node->op == OpType::SelectiveScan) {
    const int64_t nb = x.shape[0], L = x.shape[1], d = x.shape[2], n = c.in(2)->shape[1];
    const bool softplus = c.opts<fb::SelectiveScanOptionsT>()->delta_softplus;
    // Time in chunks within the loop budget, the state carried between them in float32.
    const int64_t chunk = scan_chunk(n);
    const int32_t carry = L > chunk ? c.rec->scratch(DType::Int32, Shape{nb * d, n}) : -1;
    for (int64_t t0 = 0; t0 < std::max<int64_t>(L, 1); t0 += chunk) {
      Params p;
      p.u(nb * d).u(L).u(d).u(n).u(softplus ? 1 : 0).u(c.in_id(5) >= 0).u(c.in_id(6) >= 0).u(c.in_id(7) >= 0);
      p.u(c.in_id(8) >= 0).u(c.out_id(0) >= 0).u(c.out_id(1) >= 0).u(t0).u(chunk);
      c.rec->dispatch_threads("selective_scan",
                              {c.in_id(0), c.in_id(1), c.in_id(2), c.in_id(3), c.in_id(4), c.in_id(5), c.in_id(6), c.in_id(7),
                               c.in_id(8), c.out_id(0), c.out_id(1), carry},
                              p, static_cast<uint64_t>(nb * d), 64);
    }
    return Status::ok();
  }
  if (c.node->op == OpType::LMU) {
    const int64_t nb = x.shape[0], L = x.shape[1], ch = x.shape[2], n = c.in(1)->shape[0];
    const int64_t chunk = lmu_chunk(n);
    if (chunk < 1) return c.error("order too large for lmu.comp's loop budget");
    const bool global = n > kLmuShared;
    // Both hold float32 whatever the storage mode (Int32: 4-byte words the shader reads as float).
    const int32_t carry = L > chunk ? c.rec->scratch(DType::Int32, Shape{nb * ch, n}) : -1;
    const int32_t gstate = global ? c.rec->scratch(DType::Int32, Shape{nb * ch, 2, n}) : -1;
    for (int64_t t0 = 0; t0 < std::max<int64_t>(L, 1); t0 += chunk) {
      Params p;
      p.u(nb * ch).u(L).u(ch).u(n).u(c.in_id(3) >= 0).u(c.out_id(0) >= 0).u(c.out_id(1) >= 0).u(t0).u(chunk).u(global ? 1 : 0);
      c.rec->dispatch_groups("lmu", {c.in_id(0), c.in_id(1), c.in_id(2), c.in_id(3), c.out_id(0), c.out_id(1), carry, gstate}, p,
                             static_cast<uint64_t>(nb * ch));
    }
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
