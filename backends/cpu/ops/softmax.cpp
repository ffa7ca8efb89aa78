// Softmax / LogSoftmax on the CPU. Last axis: per row max, exp(x - max) with its sum in one pass
// (simd exp_sum), then one scaling pass. Another axis ([outer, n, inner], Softmax only): blocks of
// up to kChunk inner columns keep their running max and sum in stack buffers and every pass is a
// contiguous vector loop (as the reference). Rows / outer blocks are split across threads.
#include <cmath>

#include "cpu/ops/simd_ops.h"

namespace tern::cpu {

namespace {

constexpr int64_t kChunk = 256;

class SoftmaxKernel final : public CpuKernel {
 public:
  SoftmaxKernel(const Context& ctx, const TensorRef* x, const TensorRef* y, int64_t outer, int64_t n, int64_t inner,
                bool log)
      : kt_(&simd::kernels()), threads_(ctx.threads), parts_(detail::parts_for_work(ctx, 10.0 * static_cast<double>(outer * n * inner))), x_(x), y_(y), outer_(outer),
        n_(n), inner_(inner), log_(log) {}

  Status run(void*) override {
    const float* px = x_->as<float>();
    float* py = y_->as<float>();
    if (inner_ == 1) {
      detail::for_parts(threads_, parts_, outer_, [&](int, int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) row(px + r * n_, py + r * n_);
      });
      return Status::ok();
    }
    const int64_t blocks = (inner_ + kChunk - 1) / kChunk;
    detail::for_parts(threads_, parts_, outer_ * blocks, [&](int, int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t o = t / blocks, j0 = (t % blocks) * kChunk;
        columns(px + o * n_ * inner_ + j0, py + o * n_ * inner_ + j0, std::min(kChunk, inner_ - j0));
      }
    });
    return Status::ok();
  }

 private:
  void row(const float* x, float* y) const {
    const float mx = kt_->max(x, n_);
    const float sum = kt_->exp_sum(x, y, n_, 1.0f, mx);
    if (log_) {
      // (x - max) - log(sum), as the reference, so a large max does not swallow log(sum).
      const float ls = std::log(sum);
      for (int64_t i = 0; i < n_; ++i) y[i] = (x[i] - mx) - ls;
      return;
    }
    kt_->scale(y, n_, 1.0f / sum);
  }

  void columns(const float* x, float* y, int64_t len) const {
    float mx[kChunk], sum[kChunk];
    std::copy(x, x + len, mx);
    for (int64_t a = 1; a < n_; ++a) kt_->max_acc(mx, x + a * inner_, len);
    std::fill(sum, sum + len, 0.0f);
    for (int64_t a = 0; a < n_; ++a) kt_->exp_sub_acc(x + a * inner_, mx, y + a * inner_, sum, len);
    for (int64_t j = 0; j < len; ++j) sum[j] = 1.0f / sum[j];
    for (int64_t a = 0; a < n_; ++a) kt_->mul(y + a * inner_, sum, len);
  }

  const simd::Kernels* kt_;
  Threads* threads_;
  int parts_;
  const TensorRef *x_, *y_;
  int64_t outer_, n_, inner_;
  bool log_;
};

}  // namespace

KernelResult create_softmax(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                            std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!x || !y || !node.options || !detail::all_f32({x, y})) return std::unique_ptr<CpuKernel>();
  const int axis = static_cast<const fb::AxisOptionsT*>(node.options->value)->axis;
  if (axis < 0 || axis >= x->shape.rank) return std::unique_ptr<CpuKernel>();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x->shape[i];
  for (int i = axis + 1; i < x->shape.rank; ++i) inner *= x->shape[i];
  const int64_t n = x->shape[axis];
  const bool log = node.op == OpType::LogSoftmax;
  // Empty tensors, and LogSoftmax along a non-last axis, stay with the reference.
  if (n == 0 || outer == 0 || inner == 0 || (log && inner != 1)) return std::unique_ptr<CpuKernel>();
  return std::unique_ptr<CpuKernel>(new SoftmaxKernel(ctx, x, y, outer, n, inner, log));
}

}  // namespace tern::cpu
