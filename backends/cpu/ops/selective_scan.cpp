// tern.SelectiveScan on the CPU (semantics: shared/spec/tern_ops.py). Channels are independent
// (each has its own [n] state row), so the work splits over (batch, channel block) with time the
// inner loop of each task: per step, dt for the block's channels (bias, softplus: simd dt_row),
// one simd sscan_step (vector exp(dt A), state update, y = sum(h C) per channel), then D and the
// SiLU gate (simd gate_row). The state lives in the task's scratch slice and is copied to hT at
// the end, so hT may alias h0.
#include <cstring>

#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

constexpr int64_t kChannelBlock = 64;

class SelectiveScanKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const int64_t blocks = (d_ + kChannelBlock - 1) / kChannelBlock;
    detail::for_parts(threads_, parts_, nb_ * blocks, [&](int part, int64_t lo, int64_t hi) {
      float* h = static_cast<float*>(scratch) + static_cast<size_t>(part) * slice_floats_;
      float* dt = h + detail::round_up_floats(static_cast<size_t>(kChannelBlock * n_));
      float* yb = dt + kChannelBlock;
      for (int64_t t = lo; t < hi; ++t) task(t / blocks, (t % blocks) * kChannelBlock, h, dt, yb);
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * slice_floats_ * sizeof(float); }

  void task(int64_t b, int64_t c0, float* h, float* dt, float* yb) const {
    const int64_t cn = std::min(kChannelBlock, d_ - c0);
    const size_t state = static_cast<size_t>(cn * n_);
    if (h0_) std::memcpy(h, h0_->as<float>() + (b * d_ + c0) * n_, state * sizeof(float));
    else std::fill(h, h + state, 0.0f);
    const float* pu = u_->as<float>();
    const float* pdelta = delta_->as<float>();
    const float* pa = a_->as<float>() + c0 * n_;
    const float* pd = dvec_ ? dvec_->as<float>() : nullptr;
    const float* pz = z_ ? z_->as<float>() : nullptr;
    const float* pbias = bias_ ? bias_->as<float>() : nullptr;
    float* py = y_ ? y_->as<float>() : nullptr;
    for (int64_t t = 0; t < l_; ++t) {
      const int64_t row = (b * l_ + t) * d_ + c0;
      kt_->dt_row(pdelta + row, pbias ? pbias + c0 : nullptr, dt, cn, softplus_);
      const float* bt = bm_->as<float>() + (b * l_ + t) * n_;
      const float* ct = cm_->as<float>() + (b * l_ + t) * n_;
      kt_->sscan_step(h, pa, bt, ct, dt, pu + row, py ? yb : nullptr, cn, n_);
      if (!py) continue;
      kt_->gate_row(yb, pu + row, pd ? pd + c0 : nullptr, pz ? pz + row : nullptr, cn);
      std::memcpy(py + row, yb, static_cast<size_t>(cn) * sizeof(float));
    }
    if (ht_) std::memcpy(ht_->as<float>() + (b * d_ + c0) * n_, h, state * sizeof(float));
  }

  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *u_ = nullptr, *delta_ = nullptr, *a_ = nullptr, *bm_ = nullptr, *cm_ = nullptr, *dvec_ = nullptr,
                  *z_ = nullptr, *bias_ = nullptr, *h0_ = nullptr, *y_ = nullptr, *ht_ = nullptr;
  int64_t nb_ = 0, l_ = 0, d_ = 0, n_ = 0;
  bool softplus_ = true;
  size_t slice_floats_ = 0;
};

}  // namespace

KernelResult create_selective_scan(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                                   std::span<const uint8_t>) {
  auto k = std::make_unique<SelectiveScanKernel>();
  k->u_ = detail::at(in, 0);
  k->delta_ = detail::at(in, 1);
  k->a_ = detail::at(in, 2);
  k->bm_ = detail::at(in, 3);
  k->cm_ = detail::at(in, 4);
  k->dvec_ = detail::at(in, 5);
  k->z_ = detail::at(in, 6);
  k->bias_ = detail::at(in, 7);
  k->h0_ = detail::at(in, 8);
  k->y_ = detail::at(out, 0);
  k->ht_ = detail::at(out, 1);
  if (!k->u_ || !k->delta_ || !k->a_ || !k->bm_ || !k->cm_ || !node.options || (!k->y_ && !k->ht_) ||
      !detail::all_f32({k->u_, k->delta_, k->a_, k->bm_, k->cm_, k->dvec_, k->z_, k->bias_, k->h0_, k->y_, k->ht_}) ||
      k->u_->shape.rank != 3 || k->a_->shape.rank != 2)
    return std::unique_ptr<CpuKernel>();
  k->nb_ = k->u_->shape[0];
  k->l_ = k->u_->shape[1];
  k->d_ = k->u_->shape[2];
  k->n_ = k->a_->shape[1];
  if (k->nb_ * k->d_ * k->n_ == 0) return std::unique_ptr<CpuKernel>();
  k->softplus_ = static_cast<const fb::SelectiveScanOptionsT*>(node.options->value)->delta_softplus;
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  k->parts_ = detail::thread_count(ctx);
  k->slice_floats_ = detail::round_up_floats(static_cast<size_t>(kChannelBlock * k->n_)) + 2 * kChannelBlock;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
