// The Activation op (fused GELU, SiLU, HardSwish, Sigmoid, Tanh, ... standing alone) on the CPU:
// the simd activation micro-kernel (polynomial exp / erfc / tanh, ~1e-7 relative) over contiguous
// chunks split across threads.
#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

constexpr int64_t kChunk = 4096;  // floats per task: 16 KiB in, 16 KiB out

class ActivationKernel final : public CpuKernel {
 public:
  ActivationKernel(const Context& ctx, const TensorRef* x, const TensorRef* y, simd::Act kind, float p0, float p1)
      : kt_(&simd::kernels()), threads_(ctx.threads), parts_(detail::parts_for_work(ctx, 8.0 * static_cast<double>(x->numel()))), x_(x), y_(y), kind_(kind),
        p0_(p0), p1_(p1) {}

  Status run(void*) override {
    const float* px = x_->as<float>();
    float* py = y_->as<float>();
    const int64_t n = x_->numel();
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    detail::for_parts(threads_, parts_, chunks, [&](int, int64_t lo, int64_t hi) {
      const int64_t b = lo * kChunk, e = std::min(n, hi * kChunk);
      kt_->activation(kind_, px + b, py + b, e - b, p0_, p1_);
    });
    return Status::ok();
  }

 private:
  const simd::Kernels* kt_;
  Threads* threads_;
  int parts_;
  const TensorRef *x_, *y_;
  simd::Act kind_;
  float p0_, p1_;
};

}  // namespace

KernelResult create_activation(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                               std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!x || !y || !node.options || !detail::all_f32({x, y}) || x->numel() != y->numel()) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::ActivationOptionsT*>(node.options->value);
  const int kind = static_cast<int>(o.activation);
  if (kind < 0 || kind > static_cast<int>(simd::Act::Tanh)) return std::unique_ptr<CpuKernel>();
  return std::unique_ptr<CpuKernel>(
      new ActivationKernel(ctx, x, y, static_cast<simd::Act>(kind), o.activation_min, o.activation_max));
}

}  // namespace tern::cpu
