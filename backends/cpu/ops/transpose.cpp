// Transpose between channels-first and channels-last 4-D float tensors (perm [0, 2, 3, 1] and
// [0, 3, 1, 2]) and 3-D ones ([0, 2, 1], 1-D Conv regions): the edges of the layout pass's regions. Tiled and split over threads (the
// reference transposes element by element through generic index arithmetic). Other perms and
// dtypes stay with the reference.
#include "cpu/ops/xnn_ops.h"

namespace tern::cpu {

namespace {

class ChannelTranspose final : public CpuKernel {
 public:
  Status run(void*) override {
    if (to_nhwc_) xnn::nchw_to_nhwc(threads_, x_->as<float>(), y_->as<float>(), n_, c_, p_);
    else xnn::nhwc_to_nchw(threads_, x_->as<float>(), y_->as<float>(), n_, c_, p_);
    return Status::ok();
  }
  Threads* threads_ = nullptr;
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  bool to_nhwc_ = true;
  int64_t n_ = 0, c_ = 0, p_ = 0;
};

}  // namespace

XnnKernelResult create_channel_transpose(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                         std::span<const uint8_t>) {
  std::unique_ptr<CpuKernel> none;
  if (!node.options || node.options->type != fb::NodeOptions::TransposeOptions || in.empty() || out.empty()) return none;
  const TensorRef* x = in[0];
  const TensorRef* y = out[0];
  if (!x || !y || x->dtype != DType::Float32 || y->dtype != DType::Float32 || (x->shape.rank != 4 && x->shape.rank != 3) ||
      x->numel() == 0)
    return none;
  const auto& perm = static_cast<const fb::TransposeOptionsT*>(node.options->value)->perm;
  if (perm.size() != static_cast<size_t>(x->shape.rank) || perm[0] != 0) return none;
  auto k = std::make_unique<ChannelTranspose>();
  const Shape& s = x->shape;
  if (s.rank == 3) {
    if (perm[1] != 2 || perm[2] != 1) return none;
    k->to_nhwc_ = true;  // [N, A, B] -> [N, B, A]
    k->c_ = s[1];
    k->p_ = s[2];
  } else if (perm[1] == 2 && perm[2] == 3 && perm[3] == 1) {
    k->to_nhwc_ = true;
    k->c_ = s[1];
    k->p_ = s[2] * s[3];
  } else if (perm[1] == 3 && perm[2] == 1 && perm[3] == 2) {
    k->to_nhwc_ = false;
    k->c_ = s[3];
    k->p_ = s[1] * s[2];
  } else {
    return none;
  }
  k->n_ = s[0];
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
