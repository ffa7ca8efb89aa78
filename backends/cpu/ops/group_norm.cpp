// GroupNormalization / InstanceNormalization on channels-last X [N, spatial..., C] (the layout
// pass's form, NormOptions.channels_last), which the reference runs through two transposes in
// scratch. A group is channels [g * C/G, (g + 1) * C/G) at every pixel: per image, per-channel sums
// over the pixels (double), the group means, then per-channel sums of squared deviations (double,
// two passes as the reference's moments), then one pass y = (x - mean) * (inv_std * scale[c]) +
// bias[c] with the mean split into two floats as the reference does, split across threads by
// pixels. Channels-first GroupNormalization stays with the reference kernel (contiguous groups).
#include <cmath>
#include <vector>

#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

class GroupNormNhwcKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const float* px = x_->as<float>();
    const float* ps = scale_->as<float>();
    const float* pb = bias_->as<float>();
    float* py = y_->as<float>();
    double* acc = static_cast<double*>(scratch);  // [C]
    float* m_hi = reinterpret_cast<float*>(acc + c_);
    float* m_lo = m_hi + c_;
    float* a = m_lo + c_;
    const int64_t cpg = c_ / groups_;
    const double count = static_cast<double>(cpg * pixels_);
    std::vector<double>& mean = mean_;
    for (int64_t n = 0; n < batch_; ++n) {
      const float* xn = px + n * pixels_ * c_;
      float* yn = py + n * pixels_ * c_;
      // Means.
      for (int64_t ch = 0; ch < c_; ++ch) acc[ch] = 0.0;
      for (int64_t p = 0; p < pixels_; ++p) {
        const float* xp = xn + p * c_;
        for (int64_t ch = 0; ch < c_; ++ch) acc[ch] += static_cast<double>(xp[ch]);
      }
      for (int64_t g = 0; g < groups_; ++g) {
        double s = 0.0;
        for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch) s += acc[ch];
        mean[static_cast<size_t>(g)] = s / count;
      }
      for (int64_t ch = 0; ch < c_; ++ch) {
        const double mu = mean[static_cast<size_t>(ch / cpg)];
        m_hi[ch] = static_cast<float>(mu);
        m_lo[ch] = static_cast<float>(mu - static_cast<double>(m_hi[ch]));
        acc[ch] = 0.0;
      }
      // Variances, from the deviations (no cancellation when the mean is large against the spread).
      std::vector<double>& mud = mud_;
      for (int64_t ch = 0; ch < c_; ++ch) mud[static_cast<size_t>(ch)] = mean[static_cast<size_t>(ch / cpg)];
      for (int64_t p = 0; p < pixels_; ++p) {
        const float* xp = xn + p * c_;
        for (int64_t ch = 0; ch < c_; ++ch) {
          const double d = static_cast<double>(xp[ch]) - mud[static_cast<size_t>(ch)];
          acc[ch] += d * d;
        }
      }
      for (int64_t g = 0; g < groups_; ++g) {
        double s = 0.0;
        for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch) s += acc[ch];
        const float inv = static_cast<float>(1.0 / std::sqrt(s / count + static_cast<double>(eps_)));
        for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch) a[ch] = inv * ps[ch];
      }
      detail::for_parts(threads_, parts_, pixels_, [&](int, int64_t lo, int64_t hi) {
        for (int64_t p = lo; p < hi; ++p) {
          const float* xp = xn + p * c_;
          float* yp = yn + p * c_;
          for (int64_t ch = 0; ch < c_; ++ch) yp[ch] = ((xp[ch] - m_hi[ch]) - m_lo[ch]) * a[ch] + pb[ch];
        }
      });
    }
    return Status::ok();
  }
  size_t scratch_bytes() const override { return static_cast<size_t>(c_) * (sizeof(double) + 3 * sizeof(float)) + 64; }

  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *scale_ = nullptr, *bias_ = nullptr, *y_ = nullptr;
  int64_t batch_ = 0, pixels_ = 0, c_ = 0, groups_ = 1;
  float eps_ = 1e-5f;
  std::vector<double> mean_, mud_;  // per group / per channel, sized at create
};

}  // namespace

KernelResult create_group_norm(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                               std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* scale = detail::at(in, 1);
  const TensorRef* bias = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!x || !scale || !bias || !y || !node.options || !detail::all_f32({x, scale, bias, y})) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::NormOptionsT*>(node.options->value);
  if (!o.channels_last || x->shape.rank < 3 || y->shape != x->shape) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<GroupNormNhwcKernel>();
  k->c_ = x->shape[x->shape.rank - 1];
  k->groups_ = node.op == OpType::InstanceNormalization ? k->c_ : o.num_groups;
  if (k->c_ == 0 || k->groups_ < 1 || k->c_ % k->groups_ || scale->numel() != k->c_ || bias->numel() != k->c_)
    return std::unique_ptr<CpuKernel>();
  k->batch_ = x->shape[0];
  k->pixels_ = k->batch_ ? x->numel() / (k->batch_ * k->c_) : 0;
  k->eps_ = o.epsilon;
  k->mean_.assign(static_cast<size_t>(k->groups_), 0.0);
  k->mud_.assign(static_cast<size_t>(k->c_), 0.0);
  k->threads_ = ctx.threads;
  k->parts_ = detail::parts_for_work(ctx, 3.0 * static_cast<double>(x->numel()));
  k->x_ = x;
  k->scale_ = scale;
  k->bias_ = bias;
  k->y_ = y;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
