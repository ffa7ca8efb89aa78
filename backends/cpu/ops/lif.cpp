// tern.LIF on the CPU (semantics: shared/spec/tern_ops.py). x is [outer, T, inner] around
// time_axis; neurons are independent, so tasks are (outer block, chunk of inner neurons), each
// walking time with its membrane potentials in a scratch slice and one simd lif_step per step
// (the spec's float operations in its order, division by tau included: spikes are exactly the
// reference's 0/1). vT is written when a task is done, so it may alias v0.
// Short rows (inner < kMinInner, e.g. time the last axis of a [batch, channels, T] conv layout):
// tasks take kGroup neurons at a time, gather their [T] sequences into a time-major [T, kGroup]
// block in scratch, step that block with full vectors, and scatter the spikes back.
#include <cstring>

#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

constexpr int64_t kMinInner = 8;
constexpr int64_t kInnerChunk = 1024;
constexpr int64_t kGroup = 64;  // neurons per gathered block (time-last layout)
// Row stride of the gathered [T, kGroup] blocks: padded off a multiple of 256 bytes so the
// transposing stores of one neuron's T steps do not all land in the same L1 sets.
constexpr int64_t kStride = kGroup + 8;

class LifKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    if (inner_ < kMinInner) return run_gathered(static_cast<float*>(scratch));
    const int64_t chunks = (inner_ + kInnerChunk - 1) / kInnerChunk;
    const float* px = x_->as<float>();
    const float* pv0 = v0_ ? v0_->as<float>() : nullptr;
    float* ps = s_ ? s_->as<float>() : nullptr;
    float* pvt = vt_ ? vt_->as<float>() : nullptr;
    detail::for_parts(threads_, parts_, outer_ * chunks, [&](int part, int64_t lo, int64_t hi) {
      float* v = static_cast<float*>(scratch) + static_cast<size_t>(part) * slice_floats();
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t ob = t / chunks, i0 = (t % chunks) * kInnerChunk, len = std::min(kInnerChunk, inner_ - i0);
        const int64_t state = ob * inner_ + i0;
        if (pv0) std::memcpy(v, pv0 + state, static_cast<size_t>(len) * sizeof(float));
        else std::fill(v, v + len, v_reset_);
        for (int64_t step = 0; step < steps_; ++step) {
          const int64_t row = (ob * steps_ + step) * inner_ + i0;
          kt_->lif_step(px + row, v, ps ? ps + row : nullptr, len, tau_, thr_, v_reset_, soft_);
        }
        if (pvt) std::memcpy(pvt + state, v, static_cast<size_t>(len) * sizeof(float));
      }
    });
    return Status::ok();
  }
  // Neuron j = (o, i) of the [outer, T, inner] view; its step t is at (o * T + t) * inner + i.
  Status run_gathered(float* scratch) {
    const float* px = x_->as<float>();
    const float* pv0 = v0_ ? v0_->as<float>() : nullptr;
    float* ps = s_ ? s_->as<float>() : nullptr;
    float* pvt = vt_ ? vt_->as<float>() : nullptr;
    const int64_t neurons = outer_ * inner_;
    const int64_t groups = (neurons + kGroup - 1) / kGroup;
    detail::for_parts(threads_, parts_, groups, [&](int part, int64_t lo, int64_t hi) {
      float* v = scratch + static_cast<size_t>(part) * slice_floats();
      float* xt = v + kGroup;
      float* st = xt + steps_ * kStride;
      for (int64_t g = lo; g < hi; ++g) {
        const int64_t j0 = g * kGroup, len = std::min(kGroup, neurons - j0);
        for (int64_t j = 0; j < len; ++j) {
          const int64_t o = (j0 + j) / inner_, i = (j0 + j) % inner_;
          const float* src = px + o * steps_ * inner_ + i;
          for (int64_t t = 0; t < steps_; ++t) xt[t * kStride + j] = src[t * inner_];
          v[j] = pv0 ? pv0[j0 + j] : v_reset_;
        }
        for (int64_t t = 0; t < steps_; ++t)
          kt_->lif_step(xt + t * kStride, v, ps ? st + t * kStride : nullptr, len, tau_, thr_, v_reset_, soft_);
        for (int64_t j = 0; j < len; ++j) {
          if (ps) {
            const int64_t o = (j0 + j) / inner_, i = (j0 + j) % inner_;
            float* dst = ps + o * steps_ * inner_ + i;
            for (int64_t t = 0; t < steps_; ++t) dst[t * inner_] = st[t * kStride + j];
          }
          if (pvt) pvt[j0 + j] = v[j];
        }
      }
    });
    return Status::ok();
  }
  size_t slice_floats() const {
    return inner_ < kMinInner ? static_cast<size_t>(kGroup + 2 * steps_ * kStride) : static_cast<size_t>(kInnerChunk);
  }
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * slice_floats() * sizeof(float); }

  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *v0_ = nullptr, *s_ = nullptr, *vt_ = nullptr;
  int64_t outer_ = 1, steps_ = 1, inner_ = 1;
  float tau_ = 2, thr_ = 1, v_reset_ = 0;
  bool soft_ = false;
};

}  // namespace

KernelResult create_lif(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out, std::span<const uint8_t>) {
  auto k = std::make_unique<LifKernel>();
  k->x_ = detail::at(in, 0);
  k->v0_ = detail::at(in, 1);
  k->s_ = detail::at(out, 0);
  k->vt_ = detail::at(out, 1);
  if (!k->x_ || !node.options || (!k->s_ && !k->vt_) || !detail::all_f32({k->x_, k->v0_, k->s_, k->vt_}))
    return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::LIFOptionsT*>(node.options->value);
  const Shape& s = k->x_->shape;
  if (o.time_axis < 0 || o.time_axis >= s.rank) return std::unique_ptr<CpuKernel>();
  for (int i = 0; i < s.rank; ++i) {
    if (i < o.time_axis) k->outer_ *= s[i];
    else if (i == o.time_axis) k->steps_ = s[i];
    else k->inner_ *= s[i];
  }
  if (k->outer_ * k->inner_ == 0) return std::unique_ptr<CpuKernel>();
  k->tau_ = o.tau;
  k->thr_ = o.v_threshold;
  k->v_reset_ = o.v_reset;
  k->soft_ = o.soft_reset;
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  k->parts_ = detail::thread_count(ctx);
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
