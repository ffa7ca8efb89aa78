// Gemm and MatMul with a constant 2-D weight on XNNPACK's fully connected operator: Y[rows, N] =
// A[rows, K] x B[K, N] (+ bias[N]), where rows is every leading dim of A folded together. alpha is
// folded into the packed weights and beta into the bias at prepare. Relu / Clip are the operator's
// clamp; other fused activations a pass over Y.
#include <vector>

#include "cpu/ops/xnn_ops.h"

#if TERN_HAVE_XNNPACK
#include <xnnpack.h>

namespace tern::cpu {

namespace {

class XnnFullyConnected final : public CpuKernel {
 public:
  Status run(void*) override {
    if (xnn_run_operator(op_.get(), pool_) != xnn_status_success)
      return TERN_ERROR(kInternal, "node '%s' (%s): XNNPACK failed to run the fully connected operator", name_, op_name_);
    xnn::apply_post(threads_, post_, y_->as<float>(), y_->numel());
    return Status::ok();
  }

  // XNNPACK copies the weights and the bias into its packed buffer at create.
  bool packed_input(size_t i) const override { return i == 1 || i == 2; }

  xnn::Op op_;
  Threads* threads_ = nullptr;
  pthreadpool* pool_ = nullptr;  // threads_'s pool, or none for a small product
  const char* name_ = "";
  const char* op_name_ = "";
  const TensorRef* y_ = nullptr;
  ref::ActivationParams post_;
};

bool f32(const TensorRef* t) { return !t || t->dtype == DType::Float32; }

}  // namespace

XnnKernelResult create_xnn_fully_connected(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                           std::span<const uint8_t> is_constant) {
  std::unique_ptr<CpuKernel> none;
  if (!xnn_available() || in.size() < 2 || out.empty()) return none;
  const TensorRef* a = in[0];
  const TensorRef* b = in[1];
  const TensorRef* c = in.size() > 2 ? in[2] : nullptr;
  const TensorRef* y = out[0];
  if (!a || !b || !y || !f32(a) || !f32(b) || !f32(c) || !f32(y)) return none;
  if (!xnn::input_is_constant(node, in, is_constant, 1) || b->shape.rank != 2) return none;
  if (c && !xnn::input_is_constant(node, in, is_constant, 2)) return none;
  if (a->numel() == 0 || y->numel() == 0) return none;

  float alpha = 1.0f, beta = 1.0f;
  bool trans_b = false;
  fb::Activation kind = fb::Activation::None;
  float amin = 0, amax = 0;
  if (node.op == OpType::Gemm) {
    if (!node.options || a->shape.rank != 2) return none;
    const auto& o = *static_cast<const fb::GemmOptionsT*>(node.options->value);
    if (o.trans_a) return none;
    alpha = o.alpha;
    beta = o.beta;
    trans_b = o.trans_b;
    kind = o.activation;
    amin = o.activation_min;
    amax = o.activation_max;
  } else {
    if (a->shape.rank < 2) return none;
    if (node.options) {
      const auto& o = *static_cast<const fb::MatMulOptionsT*>(node.options->value);
      kind = o.activation;
      amin = o.activation_min;
      amax = o.activation_max;
    }
  }
  const int64_t k = a->shape[a->shape.rank - 1];
  const int64_t n = trans_b ? b->shape[0] : b->shape[1];
  if ((trans_b ? b->shape[1] : b->shape[0]) != k || k == 0 || y->shape[y->shape.rank - 1] != n) return none;
  const int64_t rows = a->numel() / k;
  if (rows * n != y->numel()) return none;
  // The bias must be one value per output column: [N], [1, N] or a scalar (a per-row C stays with
  // the reference).
  const bool c_scalar = c && c->numel() == 1;
  if (c && !c_scalar && (c->numel() != n || c->shape[c->shape.rank - 1] != n)) return none;

  std::vector<float> wscaled, bscaled;
  const float* wp = b->as<float>();
  if (alpha != 1.0f) {
    wscaled.assign(wp, wp + b->numel());
    for (float& v : wscaled) v *= alpha;
    wp = wscaled.data();
  }
  const float* bp = c ? c->as<float>() : nullptr;
  if (c && (beta != 1.0f || c_scalar)) {
    bscaled.assign(static_cast<size_t>(n), 0.0f);
    for (int64_t j = 0; j < n; ++j) bscaled[static_cast<size_t>(j)] = bp[c_scalar ? 0 : j];
    for (float& v : bscaled) v *= beta;
    bp = bscaled.data();
  }
  const xnn::Activation act = xnn::split_activation(kind, amin, amax);
  auto kr = std::make_unique<XnnFullyConnected>();
  // XNNPACK's default weight layout is [N, K] (Gemm with trans_b); B[K, N] needs TRANSPOSE_WEIGHTS.
  if (xnn_create_fully_connected_nc_f32(static_cast<size_t>(k), static_cast<size_t>(n), static_cast<size_t>(k),
                                        static_cast<size_t>(n), wp, bp, act.lo, act.hi,
                                        xnn::kOpFlags | (trans_b ? 0 : XNN_FLAG_TRANSPOSE_WEIGHTS), kr->op_.out()) != xnn_status_success)
    return none;
  kr->pool_ = ctx.threads->pool_for(2.0 * static_cast<double>(rows) * static_cast<double>(n) * static_cast<double>(k));
  if (xnn_setup_fully_connected_nc_f32(kr->op_.get(), static_cast<size_t>(rows), a->as<float>(), y->as<float>(),
                                       kr->pool_) != xnn_status_success)
    return none;
  kr->threads_ = ctx.threads;
  kr->name_ = node.name;
  kr->op_name_ = node.op == OpType::Gemm ? "Gemm" : "MatMul";
  kr->y_ = y;
  kr->post_ = act.post;
  return std::unique_ptr<CpuKernel>(std::move(kr));
}

}  // namespace tern::cpu

#else

namespace tern::cpu {
XnnKernelResult create_xnn_fully_connected(const Context&, const NodeView&, XnnTensors, XnnTensors,
                                           std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}
}  // namespace tern::cpu

#endif
