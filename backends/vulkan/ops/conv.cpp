// Conv on Vulkan (float32, 1-3 spatial dims, groups incl. depthwise, fused bias and activation).
// A pointwise conv (1x1 kernel, stride 1, no padding) is a matrix product per image and group,
// W[M/g, C/g] x X[C/g, spatial], on shaders/matmul.comp; every other conv runs the direct kernel
// shaders/conv.comp.
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool conv_supports(const NodeQuery& q, std::string* why) {
  if (q.op != OpType::Conv) return decline(why, "ConvTranspose has no Vulkan kernel");
  if (!all_f32(q, why)) return false;
  const TensorInfo* x = qin(q, 0);
  const auto* o = qopts<fb::ConvOptionsT>(q);
  if (!x || !o) return decline(why, "missing input or options");
  if (x->shape.rank < 3 || x->shape.rank > 5) return decline(why, "Conv of rank other than 3-5");
  if (o->channels_last) return decline(why, "channels-last layout (compile with --target vulkan for channels-first)");
  // conv.comp loops over input channels of a group and kernel taps in one invocation: the loops'
  // back edges must stay within kLoopBudget (vk_ops.h).
  if (const TensorInfo* w = qin(q, 1); w && w->shape.rank == x->shape.rank) {
    int64_t edges = 1;
    for (int i = w->shape.rank - 1; i >= 2; --i) edges = w->shape[i] * edges + 1;
    if (w->shape[1] * edges > kLoopBudget)
      return decline(why, "input channels x kernel taps above what one invocation may loop over (vk_ops.h kLoopBudget)");
  }
  return true;
}

Status conv_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const TensorRef& x = *c.in(0);
  const TensorRef& w = *c.in(1);
  const auto& o = *c.opts<fb::ConvOptionsT>();
  const int sp = x.shape.rank - 2;
  uint32_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  bool pointwise = true;
  for (int i = 0; i < sp; ++i) {
    int j = 3 - sp + i;
    in[j] = static_cast<uint32_t>(x.shape[2 + i]);
    out[j] = static_cast<uint32_t>(y->shape[2 + i]);
    k[j] = static_cast<uint32_t>(w.shape[2 + i]);
    if (i < static_cast<int>(o.strides.size())) s[j] = static_cast<uint32_t>(o.strides[i]);
    if (i < static_cast<int>(o.dilations.size())) dl[j] = static_cast<uint32_t>(o.dilations[i]);
    if (i < static_cast<int>(o.pads.size())) pad[j] = static_cast<uint32_t>(o.pads[i]);
    bool end_pad = static_cast<size_t>(sp + i) < o.pads.size() && o.pads[sp + i] != 0;
    pointwise &= k[j] == 1 && s[j] == 1 && pad[j] == 0 && !end_pad;
  }
  const uint32_t batch = static_cast<uint32_t>(x.shape[0]), cin = static_cast<uint32_t>(x.shape[1]);
  const uint32_t m = static_cast<uint32_t>(y->shape[1]), g = static_cast<uint32_t>(o.group);
  const int act = static_cast<int>(o.activation);
  const int32_t bias = c.in_id(2);
  if (pointwise) {
    const uint32_t hw = out[0] * out[1] * out[2], cg = cin / g, mg = m / g;
    for (uint32_t gi = 0; gi < g; ++gi) {
      MatmulDesc d;
      d.m = mg, d.n = hw, d.k = cg;
      d.a_rs = cg, d.a_ks = 1;
      d.b_ks = hw, d.b_cs = 1;
      d.batch_rank = 1;
      d.batch_dims[0] = batch;
      d.a_bs[0] = 0, d.b_bs[0] = cin * hw;
      d.y_bs = m * hw, d.y_rs = hw, d.y_cs = 1;
      d.has_c = bias >= 0;
      d.c_rs = 1, d.c_cs = 0, d.c_bs = 0;
      d.act = act, d.act_a = o.activation_min, d.act_b = o.activation_max;
      d.a_off = gi * mg * cg, d.b_off = gi * cg * hw, d.c_off = gi * mg, d.y_off = gi * mg * hw;
      d.record(*c.rec, c.in_id(1), c.in_id(0), bias, c.out_id(0));
    }
    return Status::ok();
  }
  Params p;
  const uint64_t total = static_cast<uint64_t>(y->numel());
  p.u(total).u(cin).u(m).u(g);
  for (uint32_t v : in) p.u(v);
  for (uint32_t v : out) p.u(v);
  for (uint32_t v : k) p.u(v);
  for (uint32_t v : s) p.u(v);
  for (uint32_t v : dl) p.u(v);
  for (uint32_t v : pad) p.u(v);
  p.u(bias >= 0 ? 1 : 0).u(act).f(o.activation_min).f(o.activation_max);
  c.rec->dispatch_threads("conv", {c.in_id(0), c.in_id(1), bias, c.out_id(0)}, p, total);
  return Status::ok();
}

}  // namespace tern::vk
