// Elementwise ops on XNNPACK: Add Sub Mul Div Min Max with numpy broadcasting (XNNPACK's _nd
// operators, up to XNN_MAX_TENSOR_DIMS dims), and the unary ops XNNPACK has (HardSwish, Abs, Neg,
// LeakyRelu, Elu, Floor, Ceil, Round, Sqrt). Operators are created and set up at prepare (tensor
// pointers never move), so run() is one xnn_run_operator.
//
// Relu and Clip are a plain loop here instead: XNNPACK's clamp turns NaN into a bound where the
// reference lets it through. Sigmoid stays with the reference (XNNPACK's gives NaN at -inf).
#include <algorithm>
#include <cmath>

#include "cpu/ops/xnn_ops.h"

#if TERN_HAVE_XNNPACK
#include <xnnpack.h>

namespace tern::cpu {

namespace {

class XnnElementwise final : public CpuKernel {
 public:
  Status run(void*) override {
    if (xnn_run_operator(op_.get(), pool_) != xnn_status_success)
      return TERN_ERROR(kInternal, "node '%s' (%s): XNNPACK failed to run the elementwise operator", name_, op_name_);
    return Status::ok();
  }
  xnn::Op op_;
  Threads* threads_ = nullptr;
  pthreadpool* pool_ = nullptr;  // threads_'s pool, or none for a small tensor
  const char* name_ = "";
  const char* op_name_ = "";
};

// Relu / Clip with the reference's formulas, which let NaN through.
class Clamp final : public CpuKernel {
 public:
  Status run(void*) override {
    const float* x = x_->as<float>();
    float* y = y_->as<float>();
    const float lo = lo_, hi = hi_;
    const bool relu = relu_;
    auto body = [&](int64_t b, int64_t e) {
      if (relu)
        for (int64_t i = b; i < e; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
      else
        for (int64_t i = b; i < e; ++i) {
          const float r = x[i] < lo ? lo : x[i];
          y[i] = r > hi ? hi : r;
        }
    };
    const int64_t n = x_->numel();
    if (n >= 32768) threads_->parallel_for(0, n, 16384, body);
    else body(0, n);
    return Status::ok();
  }
  Threads* threads_ = nullptr;
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  float lo_ = 0, hi_ = 0;
  bool relu_ = false;
};

bool all_f32(XnnTensors ts, size_t n) {
  if (ts.size() < n) return false;
  for (size_t i = 0; i < n; ++i)
    if (!ts[i] || ts[i]->dtype != DType::Float32 || !ts[i]->data) return false;
  return true;
}

}  // namespace

XnnKernelResult create_xnn_binary(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                  std::span<const uint8_t>) {
  std::unique_ptr<CpuKernel> none;
  if (!xnn_available() || in.size() != 2 || !all_f32(in, 2) || !all_f32(out, 1)) return none;
  const TensorRef *a = in[0], *b = in[1], *y = out[0];
  if (a->shape.rank > XNN_MAX_TENSOR_DIMS || b->shape.rank > XNN_MAX_TENSOR_DIMS || y->numel() == 0) return none;
  if (a->numel() == 0 || b->numel() == 0) return none;
  auto k = std::make_unique<XnnElementwise>();
  using Create = xnn_status (*)(float, float, uint32_t, xnn_operator_t*);
  using Setup = xnn_status (*)(xnn_operator_t, size_t, const size_t*, size_t, const size_t*, const float*, const float*,
                               float*, pthreadpool_t);
  Create create = nullptr;
  Setup setup = nullptr;
  switch (node.op) {
    case OpType::Add: create = xnn_create_add_nd_f32; setup = xnn_setup_add_nd_f32; k->op_name_ = "Add"; break;
    case OpType::Sub: create = xnn_create_subtract_nd_f32; setup = xnn_setup_subtract_nd_f32; k->op_name_ = "Sub"; break;
    case OpType::Mul: create = xnn_create_multiply_nd_f32; setup = xnn_setup_multiply_nd_f32; k->op_name_ = "Mul"; break;
    case OpType::Div: create = xnn_create_divide_nd_f32; setup = xnn_setup_divide_nd_f32; k->op_name_ = "Div"; break;
    case OpType::Min:
      create = [](float, float, uint32_t f, xnn_operator_t* op) { return xnn_create_minimum_nd_f32(f, op); };
      setup = xnn_setup_minimum_nd_f32;
      k->op_name_ = "Min";
      break;
    case OpType::Max:
      create = [](float, float, uint32_t f, xnn_operator_t* op) { return xnn_create_maximum_nd_f32(f, op); };
      setup = xnn_setup_maximum_nd_f32;
      k->op_name_ = "Max";
      break;
    default: return none;
  }
  size_t sa[XNN_MAX_TENSOR_DIMS], sb[XNN_MAX_TENSOR_DIMS];
  for (int i = 0; i < a->shape.rank; ++i) sa[i] = static_cast<size_t>(a->shape[i]);
  for (int i = 0; i < b->shape.rank; ++i) sb[i] = static_cast<size_t>(b->shape[i]);
  if (create(-INFINITY, INFINITY, xnn::kOpFlags, k->op_.out()) != xnn_status_success) return none;
  if (setup(k->op_.get(), static_cast<size_t>(a->shape.rank), sa, static_cast<size_t>(b->shape.rank), sb, a->as<float>(),
            b->as<float>(), y->as<float>(), (k->pool_ = ctx.threads->pool_for(static_cast<double>(y->numel())))) != xnn_status_success)
    return none;
  k->threads_ = ctx.threads;
  k->name_ = node.name;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

XnnKernelResult create_xnn_unary(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                 std::span<const uint8_t>) {
  std::unique_ptr<CpuKernel> none;
  if (!xnn_available() || in.empty() || !all_f32(in, 1) || !all_f32(out, 1)) return none;
  const TensorRef *x = in[0], *y = out[0];
  if (x->numel() == 0 || x->numel() != y->numel()) return none;
  auto k = std::make_unique<XnnElementwise>();
  // One flat row: channels = stride = 1 and batch = numel lets XNNPACK treat it as contiguous.
  xnn_operator_t* op = k->op_.out();
  xnn_status st = xnn_status_unsupported_parameter;
  xnn_status (*setup)(xnn_operator_t, size_t, const float*, float*, pthreadpool_t) = nullptr;
  switch (node.op) {
    case OpType::Relu:
    case OpType::Clip: {
      auto c = std::make_unique<Clamp>();
      c->relu_ = node.op == OpType::Relu;
      if (!c->relu_) {
        if (!node.options || node.options->type != fb::NodeOptions::ClipOptions) return none;
        const auto& o = *static_cast<const fb::ClipOptionsT*>(node.options->value);
        c->lo_ = o.min;
        c->hi_ = o.max;
      }
      c->threads_ = ctx.threads;
      c->x_ = x;
      c->y_ = y;
      return std::unique_ptr<CpuKernel>(std::move(c));
    }
    case OpType::HardSwish:
      st = xnn_create_hardswish_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_hardswish_nc_f32;
      k->op_name_ = "HardSwish";
      break;
    case OpType::Abs:
      st = xnn_create_abs_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_abs_nc_f32;
      k->op_name_ = "Abs";
      break;
    case OpType::Neg:
      st = xnn_create_negate_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_negate_nc_f32;
      k->op_name_ = "Neg";
      break;
    case OpType::Floor:
      st = xnn_create_floor_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_floor_nc_f32;
      k->op_name_ = "Floor";
      break;
    case OpType::Ceil:
      st = xnn_create_ceiling_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_ceiling_nc_f32;
      k->op_name_ = "Ceil";
      break;
    case OpType::Round:  // ONNX Round is round-half-to-even, XNNPACK's "bankers rounding"
      st = xnn_create_bankers_rounding_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_bankers_rounding_nc_f32;
      k->op_name_ = "Round";
      break;
    case OpType::Sqrt:
      st = xnn_create_square_root_nc_f32(1, 1, 1, xnn::kOpFlags, op);
      setup = xnn_setup_square_root_nc_f32;
      k->op_name_ = "Sqrt";
      break;
    case OpType::LeakyRelu:
    case OpType::Elu: {
      if (!node.options || node.options->type != fb::NodeOptions::AlphaBetaOptions) return none;
      const float alpha = static_cast<const fb::AlphaBetaOptionsT*>(node.options->value)->alpha;
      if (node.op == OpType::LeakyRelu) {
        st = xnn_create_leaky_relu_nc_f32(1, 1, 1, alpha, xnn::kOpFlags, op);
        setup = xnn_setup_leaky_relu_nc_f32;
        k->op_name_ = "LeakyRelu";
      } else {
        st = xnn_create_elu_nc_f32(1, 1, 1, alpha, xnn::kOpFlags, op);
        setup = xnn_setup_elu_nc_f32;
        k->op_name_ = "Elu";
      }
      break;
    }
    default: return none;
  }
  if (st != xnn_status_success) return none;
  k->pool_ = ctx.threads->pool_for(static_cast<double>(x->numel()));
  if (setup(k->op_.get(), static_cast<size_t>(x->numel()), x->as<float>(), y->as<float>(), k->pool_) !=
      xnn_status_success)
    return none;
  k->threads_ = ctx.threads;
  k->name_ = node.name;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu

#else

namespace tern::cpu {
XnnKernelResult create_xnn_binary(const Context&, const NodeView&, XnnTensors, XnnTensors, std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}
XnnKernelResult create_xnn_unary(const Context&, const NodeView&, XnnTensors, XnnTensors, std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}
}  // namespace tern::cpu

#endif
