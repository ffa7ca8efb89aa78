// tern.SelectiveScan: the S6 scan of Mamba, channels last (semantics: shared/spec/tern_ops.py).
//
// Per batch, time is the outer loop and the [d, n] state the inner ones, n contiguous, so one step
// streams once through A and the state. Arithmetic is float32 in the spec's order of operations
// (numpy's float32 arrays), so results agree with it to a few ulp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

// torch.nn.functional.softplus with beta = 1 and threshold = 20: x itself above the threshold
// (which also keeps exp from overflowing for large x).
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

// The running state of one batch element, [d, n] float32: the scan never writes hT until a batch
// is done, so hT may share memory with h0 (state carried in place) and may be absent.
size_t selective_scan_scratch(const KernelContext& ctx) {
  const TensorRef* u = ctx.in(0);
  const TensorRef* a = ctx.in(2);
  if (!u || !a || u->shape.rank != 3 || a->shape.rank != 2) return 0;
  return static_cast<size_t>(u->shape[2] * a->shape[1]) * sizeof(float);
}

Status selective_scan(const KernelContext& ctx) {
  const TensorRef& u = *ctx.in(0);
  const TensorRef& delta = *ctx.in(1);
  const TensorRef& a = *ctx.in(2);
  const TensorRef& bm = *ctx.in(3);
  const TensorRef& cm = *ctx.in(4);
  const TensorRef* dv = ctx.in(5);
  const TensorRef* z = ctx.in(6);
  const TensorRef* bias = ctx.in(7);
  const TensorRef* h0 = ctx.in(8);
  const TensorRef* y = ctx.out(0);
  const TensorRef* ht = ctx.out(1);
  if (!y && !ht) return Status::ok();
  const bool use_softplus = ctx.opts<fb::SelectiveScanOptionsT>().delta_softplus;

  const int64_t nb = u.shape[0], L = u.shape[1], d = u.shape[2], n = a.shape[1];
  const int64_t dn = d * n;
  if (dn > 0 && !ctx.scratch) return ctx.error("needs %lld bytes of scratch and got none", static_cast<long long>(dn * 4));
  float* h = static_cast<float*>(ctx.scratch);

  const float* pu = u.as<float>();
  const float* pdelta = delta.as<float>();
  const float* pa = a.as<float>();
  const float* pb = bm.as<float>();
  const float* pc = cm.as<float>();
  const float* pd = dv ? dv->as<float>() : nullptr;
  const float* pz = z ? z->as<float>() : nullptr;
  const float* pbias = bias ? bias->as<float>() : nullptr;
  float* py = y ? y->as<float>() : nullptr;

  for (int64_t b = 0; b < nb; ++b) {
    if (h0) std::memcpy(h, h0->as<float>() + b * dn, static_cast<size_t>(dn) * sizeof(float));
    else std::fill(h, h + dn, 0.0f);
    for (int64_t t = 0; t < L; ++t) {
      const int64_t row = (b * L + t) * d;  // offset of [b, t, :] in u, delta, z, y
      const float* bt = pb + (b * L + t) * n;
      const float* ct = pc + (b * L + t) * n;
      for (int64_t c = 0; c < d; ++c) {
        float dt = pdelta[row + c];
        if (pbias) dt = dt + pbias[c];
        if (use_softplus) dt = softplus(dt);
        const float uc = pu[row + c];
        const float* ac = pa + c * n;
        float* hc = h + c * n;
        // h = exp(dt * A) * h + (dt * B) * u, then y = sum_s h * C (the spec's einsum)
        for (int64_t s = 0; s < n; ++s) hc[s] = std::exp(dt * ac[s]) * hc[s] + dt * bt[s] * uc;
        if (!py) continue;
        float acc = 0.0f;
        for (int64_t s = 0; s < n; ++s) acc += hc[s] * ct[s];
        if (pd) acc = acc + uc * pd[c];
        if (pz) acc = acc * silu(pz[row + c]);
        py[row + c] = acc;
      }
    }
    if (ht) std::memcpy(ht->as<float>() + b * dn, h, static_cast<size_t>(dn) * sizeof(float));
  }
  return Status::ok();
}

}  // namespace tern::ref
