// LayerNormalization on the CPU: one micro-kernel call per row (simd layer_norm_row: corrected
// two-pass mean/variance as the reference, then the scale/shift pass), rows split across threads.
// Scale / B broadcast from a smaller shape go to the reference kernel.
#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

class LayerNormKernel final : public CpuKernel {
 public:
  LayerNormKernel(const Context& ctx, const TensorRef* x, const TensorRef* scale, const TensorRef* bias,
                  const TensorRef* y, const TensorRef* mean, const TensorRef* inv, int64_t rows, int64_t inner, float eps)
      : kt_(&simd::kernels()), threads_(ctx.threads), parts_(detail::parts_for_work(ctx, 8.0 * static_cast<double>(rows * inner))), x_(x), scale_(scale),
        bias_(bias), y_(y), mean_(mean), inv_(inv), rows_(rows), inner_(inner), eps_(eps) {}

  Status run(void*) override {
    const float* px = x_->as<float>();
    const float* ps = scale_->as<float>();
    const float* pb = bias_ ? bias_->as<float>() : nullptr;
    float* py = y_ ? y_->as<float>() : nullptr;
    float* pm = mean_ ? mean_->as<float>() : nullptr;
    float* pi = inv_ ? inv_->as<float>() : nullptr;
    detail::for_parts(threads_, parts_, rows_, [&](int, int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r)
        kt_->layer_norm_row(px + r * inner_, py ? py + r * inner_ : nullptr, inner_, ps, pb, eps_, pm ? pm + r : nullptr,
                            pi ? pi + r : nullptr);
    });
    return Status::ok();
  }

 private:
  const simd::Kernels* kt_;
  Threads* threads_;
  int parts_;
  const TensorRef *x_, *scale_, *bias_, *y_, *mean_, *inv_;
  int64_t rows_, inner_;
  float eps_;
};

}  // namespace

KernelResult create_layer_norm(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                               std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* scale = detail::at(in, 1);
  const TensorRef* bias = detail::at(in, 2);
  if (!x || !scale || !node.options || !detail::all_f32({x, scale, bias})) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::NormOptionsT*>(node.options->value);
  if (o.axis < 0 || o.axis > x->shape.rank) return std::unique_ptr<CpuKernel>();
  int64_t inner = 1;
  for (int i = o.axis; i < x->shape.rank; ++i) inner *= x->shape[i];
  if (inner == 0 || scale->numel() != inner || (bias && bias->numel() != inner)) return std::unique_ptr<CpuKernel>();
  return std::unique_ptr<CpuKernel>(new LayerNormKernel(ctx, x, scale, bias, detail::at(out, 0), detail::at(out, 1),
                                                        detail::at(out, 2), x->numel() / inner, inner, o.epsilon));
}

}  // namespace tern::cpu
