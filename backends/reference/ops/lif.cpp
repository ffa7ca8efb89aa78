// tern.LIF: multi-step leaky integrate-and-fire neuron, decay_input form (semantics:
// shared/spec/tern_ops.py). Elementwise along time_axis:
//   h = v + (x - (v - v_reset)) / tau;  s = h >= v_threshold;  v = soft ? h - s * v_threshold
//                                                                     : (s ? v_reset : h)
//
// x is seen as [outer, T, inner] around time_axis. For each outer index the [T, inner] block is
// contiguous, so the kernel walks it once, time outer and the inner neurons contiguous, with one
// row of state (a few blocks in lockstep when rows are short). The float32 operations are the spec's, in its order, division by tau included, so
// spikes agree with it exactly away from the threshold's last ulp.
#include <algorithm>
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

struct Split {
  int64_t outer = 1, steps = 1, inner = 1;
};

Split split_at(const Shape& s, int axis) {
  Split r;
  for (int i = 0; i < s.rank; ++i) {
    if (i < axis) r.outer *= s.dims[i];
    else if (i == axis) r.steps = s.dims[i];
    else r.inner *= s.dims[i];
  }
  return r;
}

struct Params {
  float tau, thr, v_reset;
};

// Outer blocks advanced together. With a short inner extent (time the last axis or nearly) one
// block's recurrence is a serial chain of dependent float operations; stepping several blocks in
// lockstep lets their independent chains overlap. Long rows take one block at a time.
constexpr int64_t kLanes = 16;

int64_t group_rows(const Split& sp) {
  int64_t g = sp.inner >= kLanes ? 1 : kLanes / (sp.inner > 0 ? sp.inner : 1);
  return g < sp.outer ? g : (sp.outer > 0 ? sp.outer : 1);
}

// Soft reset and the spike output are template parameters so the inner loop has no branch on
// them; the whole nest is one call.
template <bool kSoft, bool kSpikes>
void run_blocks(const Split& sp, const float* x, const float* v0, float* v, float* s, float* vt, Params p) {
  const int64_t group = group_rows(sp);
  for (int64_t ob0 = 0; ob0 < sp.outer; ob0 += group) {
    const int64_t rows = sp.outer - ob0 < group ? sp.outer - ob0 : group;
    const size_t state_bytes = static_cast<size_t>(rows * sp.inner) * sizeof(float);
    if (v0) std::memcpy(v, v0 + ob0 * sp.inner, state_bytes);
    else std::fill(v, v + rows * sp.inner, p.v_reset);
    for (int64_t t = 0; t < sp.steps; ++t) {
      for (int64_t g = 0; g < rows; ++g) {
        const int64_t row = ((ob0 + g) * sp.steps + t) * sp.inner;
        const float* xr = x + row;
        float* vr = v + g * sp.inner;
        for (int64_t i = 0; i < sp.inner; ++i) {
          const float h = vr[i] + (xr[i] - (vr[i] - p.v_reset)) / p.tau;
          const float spike = h >= p.thr ? 1.0f : 0.0f;
          if constexpr (kSoft) vr[i] = h - spike * p.thr;
          else vr[i] = spike > 0.0f ? p.v_reset : h;
          if constexpr (kSpikes) s[row + i] = spike;
        }
      }
    }
    if (vt) std::memcpy(vt + ob0 * sp.inner, v, state_bytes);
  }
}

}  // namespace

// The membrane potentials of one group of outer blocks, [group_rows, inner]: vT is written only
// when a group is done, so it may share memory with v0 (state carried in place) and may be absent.
size_t lif_scratch(const KernelContext& ctx) {
  const TensorRef* x = ctx.in(0);
  if (!x || !ctx.options) return 0;
  int axis = ctx.opts<fb::LIFOptionsT>().time_axis;
  if (axis < 0 || axis >= x->shape.rank) return 0;
  const Split sp = split_at(x->shape, axis);
  return static_cast<size_t>(group_rows(sp) * sp.inner) * sizeof(float);
}

Status lif(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* v0 = ctx.in(1);
  const TensorRef* s = ctx.out(0);
  const TensorRef* vt = ctx.out(1);
  if (!s && !vt) return Status::ok();
  const fb::LIFOptionsT& o = ctx.opts<fb::LIFOptionsT>();
  if (o.time_axis < 0 || o.time_axis >= x.shape.rank)
    return ctx.error("time_axis %d is outside x %s", o.time_axis, x.shape.str().c_str());
  const Split sp = split_at(x.shape, o.time_axis);
  if (sp.inner > 0 && !ctx.scratch) return ctx.error("needs %zu bytes of scratch and got none", lif_scratch(ctx));
  float* v = static_cast<float*>(ctx.scratch);

  const Params p{o.tau, o.v_threshold, o.v_reset};
  const float* px = x.as<float>();
  const float* pv0 = v0 ? v0->as<float>() : nullptr;
  float* ps = s ? s->as<float>() : nullptr;
  float* pvt = vt ? vt->as<float>() : nullptr;
  if (o.soft_reset) {
    if (ps) run_blocks<true, true>(sp, px, pv0, v, ps, pvt, p);
    else run_blocks<true, false>(sp, px, pv0, v, ps, pvt, p);
  } else {
    if (ps) run_blocks<false, true>(sp, px, pv0, v, ps, pvt, p);
    else run_blocks<false, false>(sp, px, pv0, v, ps, pvt, p);
  }
  return Status::ok();
}

}  // namespace tern::ref
