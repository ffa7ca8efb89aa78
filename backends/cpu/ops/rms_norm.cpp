// RMSNormalization on the CPU (the op the fusion pass creates from x / sqrt(mean(x^2) + eps) *
// scale): one micro-kernel call per row, rows split across threads. A scale broadcast from a
// smaller shape, or a third input, goes to the reference kernel.
#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

class RmsNormKernel final : public CpuKernel {
 public:
  RmsNormKernel(const Context& ctx, const TensorRef* x, const TensorRef* scale, const TensorRef* y, int64_t rows,
                int64_t inner, float eps)
      : kt_(&simd::kernels()), threads_(ctx.threads), parts_(detail::parts_for_work(ctx, 6.0 * static_cast<double>(rows * inner))), x_(x), scale_(scale), y_(y),
        rows_(rows), inner_(inner), eps_(eps) {}

  Status run(void*) override {
    const float* px = x_->as<float>();
    const float* ps = scale_ ? scale_->as<float>() : nullptr;
    float* py = y_->as<float>();
    detail::for_parts(threads_, parts_, rows_, [&](int, int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) kt_->rms_norm_row(px + r * inner_, py + r * inner_, inner_, ps, eps_);
    });
    return Status::ok();
  }

 private:
  const simd::Kernels* kt_;
  Threads* threads_;
  int parts_;
  const TensorRef *x_, *scale_, *y_;
  int64_t rows_, inner_;
  float eps_;
};

}  // namespace

KernelResult create_rms_norm(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                             std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* scale = detail::at(in, 1);
  const TensorRef* y = detail::at(out, 0);
  if (!x || !y || !node.options || detail::at(in, 2) || !detail::all_f32({x, scale, y})) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::NormOptionsT*>(node.options->value);
  if (o.axis < 0 || o.axis > x->shape.rank) return std::unique_ptr<CpuKernel>();
  int64_t inner = 1;
  for (int i = o.axis; i < x->shape.rank; ++i) inner *= x->shape[i];
  if (inner == 0 || (scale && scale->numel() != inner)) return std::unique_ptr<CpuKernel>();
  return std::unique_ptr<CpuKernel>(new RmsNormKernel(ctx, x, scale, y, x->numel() / inner, inner, o.epsilon));
}

}  // namespace tern::cpu
