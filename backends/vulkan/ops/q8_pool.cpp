// int8 pooling on Vulkan, bit-exact with backends/reference/ops/pool_q8.cpp (AveragePool,
// GlobalAveragePool) and the reference's float kernel on int8 values (MaxPool, GlobalMaxPool,
// whose output is quantized like the input): shaders/q8_pool.comp, one invocation per output,
// and shaders/q8_globalpool.comp, one workgroup per plane. AveragePool divides through the
// multiplier of each output's tap count; the counts go up to the kernel size, so the multipliers
// of every count are a small constant built here with ref::make_multiplier. ReduceMean over one
// contiguous run of axes (the reference's reduce_mean_q8) is the global pool's arithmetic over
// outer x reduced x inner, on q8_globalpool.comp too.
#include "ops/op_defs.h"
#include "vulkan/ops/q8_common.h"

namespace tern::vk {

namespace {

// ReduceMean's axes as outer x reduced x inner; false when they are not one contiguous run.
bool reduce_run(const Shape& s, const fb::ReduceOptionsT& o, int64_t* outer, int64_t* red, int64_t* inner) {
  const int r = s.rank;
  bool reduced[kMaxRank] = {};
  for (int i = 0; i < r; ++i) reduced[i] = o.axes.empty();
  for (int32_t a : o.axes) {
    const int ax = a < 0 ? a + r : a;
    if (ax < 0 || ax >= r) return false;
    reduced[ax] = true;
  }
  int first = -1, last = -1;
  for (int i = 0; i < r; ++i)
    if (reduced[i]) {
      if (first >= 0 && last != i - 1) return false;
      if (first < 0) first = i;
      last = i;
    }
  if (first < 0) return false;
  *outer = *red = *inner = 1;
  for (int i = 0; i < r; ++i) (i < first ? *outer : i <= last ? *red : *inner) *= s[i];
  return true;
}

}  // namespace

bool q8_pool_supports(const NodeQuery& q, std::string* why) {
  if (!q8_common(q, why, {0})) return false;
  const TensorInfo* x = qin(q, 0);
  if (q.op == OpType::ReduceMean) {
    const auto* o = qopts<fb::ReduceOptionsT>(q);
    int64_t outer, red, inner;
    if (!o || !reduce_run(x->shape, *o, &outer, &red, &inner))
      return decline(why, "the int8 ReduceMean takes one contiguous run of axes");
    if (q.inputs.size() > 1 && qin(q, 1)) return decline(why, "axes given as a runtime tensor");
    return true;
  }
  if (x->shape.rank < 3 || x->shape.rank > 5) return decline(why, "pooling of rank other than 3-5");
  if (q.op == OpType::MaxPool && q.outputs.size() > 1 && qout(q, 1)) return decline(why, "MaxPool Indices output");
  if (q.op == OpType::MaxPool || q.op == OpType::AveragePool) {
    const auto* o = qopts<fb::PoolOptionsT>(q);
    if (!o) return decline(why, "missing options");
    if (o->channels_last) return decline(why, "channels-last layout (the int8 pools are NCHW)");
    int64_t taps = 1;
    for (int32_t k : o->kernel_shape) taps *= k;
    if (taps > kLoopBudget) return decline(why, "kernel above what one invocation may loop over (vk_ops.h kLoopBudget)");
  }
  return true;
}

Status q8_pool_record(const OpCall& c) {
  if (!c.out(0)) return Status::ok();
  // Copies: Recorder::constant may move the tensor table.
  const TensorRef x = *c.in(0), yv = *c.out(0);
  const TensorRef* y = &yv;
  const OpType op = c.node->op;
  const bool is_max = op == OpType::MaxPool || op == OpType::GlobalMaxPool;
  // Max pools take the largest byte, as the reference's float kernel does on int8 data (the
  // quantizer passes them through with Y quantized like X); only the averages requantize.
  float s_x = 1, s_y = 1;
  int32_t z_x = 0, z_y = 0;
  if (!is_max) {
    for (const TensorRef* t : {&x, y}) {
      if (!ref::has_quant(t) || t->quant->count != 1) return c.error("X and Y must be int8 quantized per tensor");
      if (t->quant->zero_point[0] < quant::kQMin || t->quant->zero_point[0] > quant::kQMax)
        return c.error("a zero point is outside [-128, 127]");
    }
    s_x = ref::q_scale(x), s_y = ref::q_scale(*y);
    z_x = ref::q_zero(x), z_y = ref::q_zero(*y);
  }
  if (op == OpType::GlobalAveragePool || op == OpType::GlobalMaxPool || op == OpType::ReduceMean) {
    int64_t outer = x.shape[0] * x.shape[1], size = x.numel() / (outer ? outer : 1), inner = 1;
    if (op == OpType::ReduceMean) {
      const auto* o = c.opts<fb::ReduceOptionsT>();
      if (!o || !reduce_run(x.shape, *o, &outer, &size, &inner)) return c.error("the int8 ReduceMean takes one contiguous run of axes");
    }
    const quant::Multiplier m = ref::make_multiplier(s_x, 1.0 / static_cast<double>(size ? size : 1), s_y);
    Params p;
    p.u(outer * inner).u(size).u(is_max ? 1 : 0).u(z_x).u(z_y).u(m.mult).u(m.shift).u(inner);
    c.rec->dispatch_groups("q8_globalpool", {c.in_id(0), c.out_id(0)}, p, static_cast<uint64_t>(outer * inner));
    return Status::ok();
  }
  const auto& o = *c.opts<fb::PoolOptionsT>();
  const PoolWindow w(x.shape, y->shape, o.kernel_shape, o.strides, o.dilations, o.pads);
  const auto &in = w.in, &out = w.out, &k = w.k, &s = w.s, &dl = w.dl, &pb = w.pb, &pe = w.pe;
  // The multiplier of every tap count 0..kernel size (0 as 1: the reference's `counted ? counted : 1`).
  const int64_t taps = static_cast<int64_t>(k[0]) * k[1] * k[2];
  std::vector<int32_t> mult;
  for (int64_t n = 0; n <= taps; ++n) {
    const quant::Multiplier m = ref::make_multiplier(s_x, 1.0 / static_cast<double>(n ? n : 1), s_y);
    put_multiplier(&mult, m);
  }
  const int32_t t = c.rec->constant(DType::Int32, Shape{static_cast<int64_t>(mult.size())}, mult.data());
  Params p;
  p.u(y->numel());
  for (uint32_t v : in) p.u(v);
  for (uint32_t v : out) p.u(v);
  for (uint32_t v : k) p.u(v);
  for (uint32_t v : s) p.u(v);
  for (uint32_t v : dl) p.u(v);
  for (uint32_t v : pb) p.u(v);
  for (uint32_t v : pe) p.u(v);
  p.u(is_max ? 1 : 0).u(o.count_include_pad ? 1 : 0).u(z_x).u(z_y);
  c.rec->dispatch_threads("q8_pool", {c.in_id(0), t, c.out_id(0)}, p, static_cast<uint64_t>(y->numel()));
  return Status::ok();
}

}  // namespace tern::vk
