// AveragePool / MaxPool (1-D and 2-D) on XNNPACK's NHWC pooling, and GlobalAveragePool.
//
// Layout as for Conv (xnn_conv.cpp): channels_last nodes run in place, NCHW ones go through
// scratch. ceil_mode becomes extra end padding, which XNNPACK ignores exactly as ONNX does for
// MaxPool and for AveragePool without count_include_pad; AveragePool counting padding, and MaxPool
// asked for its Indices output, stay with the reference. GlobalAveragePool over NCHW is a mean per
// row, done here directly; over NHWC it is XNNPACK's NWC global pooling.
//
// Two MaxPool semantics XNNPACK does not share: its padded taps repeat the nearest input element
// (right only when dilation is 1, so dilated pools with padding stay with the reference), and its
// max drops NaN where the reference propagates it (a NaN in X sends that run to the reference
// kernel; the scan for it is one cheap pass over X).
#include <algorithm>
#include <cmath>

#include "reference/kernel.h"

#include "cpu/ops/xnn_ops.h"

#if TERN_HAVE_XNNPACK
#include <xnnpack.h>

namespace tern::cpu {

namespace {

class XnnPool final : public CpuKernel {
 public:
  size_t scratch_bytes() const override { return (in_floats_ + out_floats_) * sizeof(float); }

  Status run(void* scratch) override {
    if (max_ && has_nan()) return ref::pool(ref_);
    const float* in = x_->as<float>();
    float* out = y_->as<float>();
    float* s = static_cast<float*>(scratch);
    if (in_floats_) {
      xnn::nchw_to_nhwc(threads_, in, s, n_, c_, ih_ * iw_);
      in = s;
    }
    if (out_floats_) out = s + in_floats_;
    if (in != last_in_ || out != last_out_) {
      xnn_status st = max_ ? xnn_setup_max_pooling2d_nhwc_f32(op_.get(), n_, ih_, iw_, in, out, threads_->pool())
                           : xnn_setup_average_pooling2d_nhwc_f32(op_.get(), n_, ih_, iw_, in, out, threads_->pool());
      if (st != xnn_status_success) return TERN_ERROR(kInternal, "node '%s' (%s): XNNPACK rejected the pooling setup", name_, op_name_);
      last_in_ = in;
      last_out_ = out;
    }
    if (xnn_run_operator(op_.get(), threads_->pool()) != xnn_status_success)
      return TERN_ERROR(kInternal, "node '%s' (%s): XNNPACK failed to run the pooling", name_, op_name_);
    if (out_floats_) xnn::nhwc_to_nchw(threads_, out, y_->as<float>(), n_, c_, out_plane_);
    return Status::ok();
  }

  bool has_nan() const {
    const float* x = x_->as<float>();
    const int64_t n = x_->numel();
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) nan |= x[i] != x[i];
    return nan;
  }

  xnn::Op op_;
  ref::KernelContext ref_;  // MaxPool's reference run, for inputs holding NaN
  bool max_ = false;
  Threads* threads_ = nullptr;
  const char* name_ = "";
  const char* op_name_ = "";
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  size_t n_ = 0, c_ = 0, ih_ = 1, iw_ = 1, out_plane_ = 1;
  size_t in_floats_ = 0, out_floats_ = 0;
  const float* last_in_ = nullptr;
  float* last_out_ = nullptr;
};

// GlobalAveragePool over NCHW: the mean of each contiguous (n, c) plane.
class GlobalAverageNchw final : public CpuKernel {
 public:
  Status run(void*) override {
    const float* x = x_->as<float>();
    float* y = y_->as<float>();
    const int64_t plane = plane_;
    const float inv = 1.0f / static_cast<float>(plane);
    auto body = [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const float* p = x + r * plane;
        float acc[8] = {};
        int64_t i = 0;
        for (; i + 8 <= plane; i += 8)
          for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
        float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; i < plane; ++i) s += p[i];
        y[r] = s * inv;
      }
    };
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(plane, 1));
    threads_->parallel_for(0, rows_, grain, body);
    return Status::ok();
  }
  Threads* threads_ = nullptr;
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  int64_t rows_ = 0, plane_ = 0;
};

class XnnGlobalAverageNhwc final : public CpuKernel {
 public:
  Status run(void*) override {
    if (xnn_run_operator(op_.get(), threads_->pool()) != xnn_status_success)
      return TERN_ERROR(kInternal, "node '%s' (GlobalAveragePool): XNNPACK failed to run the pooling", name_);
    return Status::ok();
  }
  xnn::Op op_;
  Threads* threads_ = nullptr;
  const char* name_ = "";
};

XnnKernelResult create_global_average(const Context& ctx, const NodeView& node, const TensorRef* x, const TensorRef* y) {
  std::unique_ptr<CpuKernel> none;
  const bool nhwc = node.options && node.options->type == fb::NodeOptions::PoolOptions &&
                    static_cast<const fb::PoolOptionsT*>(node.options->value)->channels_last;
  const Shape& xs = x->shape;
  if (xs.rank < 3) return none;
  int64_t plane = 1;
  if (nhwc) {
    for (int i = 1; i < xs.rank - 1; ++i) plane *= xs[i];
    auto k = std::make_unique<XnnGlobalAverageNhwc>();
    const size_t c = static_cast<size_t>(xs[xs.rank - 1]);
    if (xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, xnn::kOpFlags, k->op_.out()) != xnn_status_success)
      return none;
    if (xnn_setup_global_average_pooling_nwc_f32(k->op_.get(), static_cast<size_t>(xs[0]), static_cast<size_t>(plane),
                                                 x->as<float>(), y->as<float>(), ctx.threads->pool()) != xnn_status_success)
      return none;
    k->threads_ = ctx.threads;
    k->name_ = node.name;
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  for (int i = 2; i < xs.rank; ++i) plane *= xs[i];
  auto k = std::make_unique<GlobalAverageNchw>();
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  k->rows_ = xs[0] * xs[1];
  k->plane_ = plane;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

// ReduceMean over axes {1, 2} of a 4-D tensor with keepdims: global average pooling of NHWC (what
// the layout pass turns GlobalAveragePool into).
XnnKernelResult create_reduce_mean_hw(const Context& ctx, const NodeView& node, const TensorRef* x, const TensorRef* y) {
  std::unique_ptr<CpuKernel> none;
  if (!node.options || node.options->type != fb::NodeOptions::ReduceOptions || x->shape.rank != 4) return none;
  const auto& o = *static_cast<const fb::ReduceOptionsT*>(node.options->value);
  if (o.axes.size() != 2 || !o.keepdims) return none;
  int a0 = o.axes[0] < 0 ? o.axes[0] + 4 : o.axes[0], a1 = o.axes[1] < 0 ? o.axes[1] + 4 : o.axes[1];
  if (std::min(a0, a1) != 1 || std::max(a0, a1) != 2) return none;
  const Shape& xs = x->shape;
  auto k = std::make_unique<XnnGlobalAverageNhwc>();
  const size_t c = static_cast<size_t>(xs[3]);
  if (xnn_create_global_average_pooling_nwc_f32(c, c, c, -INFINITY, INFINITY, xnn::kOpFlags, k->op_.out()) != xnn_status_success)
    return none;
  if (xnn_setup_global_average_pooling_nwc_f32(k->op_.get(), static_cast<size_t>(xs[0]), static_cast<size_t>(xs[1] * xs[2]),
                                               x->as<float>(), y->as<float>(), ctx.threads->pool()) != xnn_status_success)
    return none;
  k->threads_ = ctx.threads;
  k->name_ = node.name;
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace

XnnKernelResult create_xnn_pool(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                std::span<const uint8_t>) {
  std::unique_ptr<CpuKernel> none;
  if (!xnn_available() || in.empty() || out.empty() || !in[0] || !out[0]) return none;
  const TensorRef* x = in[0];
  const TensorRef* y = out[0];
  if (x->dtype != DType::Float32 || y->dtype != DType::Float32 || x->numel() == 0 || y->numel() == 0) return none;
  if (node.op == OpType::GlobalAveragePool) return create_global_average(ctx, node, x, y);
  if (node.op == OpType::ReduceMean) return create_reduce_mean_hw(ctx, node, x, y);
  if (node.op != OpType::AveragePool && node.op != OpType::MaxPool) return none;
  if (out.size() > 1 && out[1]) return none;  // MaxPool's Indices
  if (!node.options || node.options->type != fb::NodeOptions::PoolOptions) return none;
  const auto& o = *static_cast<const fb::PoolOptionsT*>(node.options->value);
  const bool is_max = node.op == OpType::MaxPool;
  const bool nhwc = o.channels_last;
  const Shape& xs = x->shape;
  const Shape& ys = y->shape;
  if ((xs.rank != 3 && xs.rank != 4) || ys.rank != xs.rank) return none;
  const int spatial = xs.rank - 2;
  if (o.kernel_shape.size() != static_cast<size_t>(spatial) || o.strides.size() != static_cast<size_t>(spatial) ||
      o.pads.size() != static_cast<size_t>(2 * spatial))
    return none;
  const int cx = nhwc ? xs.rank - 1 : 1, sx = nhwc ? 1 : 2;
  if (ys[cx] != xs[cx] || ys[0] != xs[0]) return none;
  // Per spatial dim (h then w; 1-D pools have h = 1): sizes, window, pads with ceil_mode's extra.
  int64_t in_sz[2] = {1, 1}, out_sz[2] = {1, 1}, k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0};
  bool any_pad = false;
  for (int i = 0; i < spatial; ++i) {
    const int j = i + 2 - spatial;
    const size_t si = static_cast<size_t>(i);
    in_sz[j] = xs[sx + i];
    out_sz[j] = ys[sx + i];
    k[j] = o.kernel_shape[si];
    s[j] = o.strides[si];
    d[j] = o.dilations.size() == static_cast<size_t>(spatial) ? o.dilations[si] : 1;
    pb[j] = o.pads[si];
    pe[j] = o.pads[si + static_cast<size_t>(spatial)];
    any_pad |= pb[j] || pe[j];
    // Extend the end pad until XNNPACK's floor formula gives ONNX's output size.
    const int64_t span = (k[j] - 1) * d[j] + 1;
    int64_t need = (out_sz[j] - 1) * s[j] + span - in_sz[j] - pb[j];
    if (need > pe[j]) {
      if (!is_max && o.count_include_pad) return none;  // the overhang would count differently
      pe[j] = need;
      any_pad = true;
    }
    if (in_sz[j] + pb[j] + pe[j] < span || (in_sz[j] + pb[j] + pe[j] - span) / s[j] + 1 != out_sz[j]) return none;
  }
  if ((d[0] != 1 || d[1] != 1) && (!is_max || any_pad)) return none;
  if (!is_max && o.count_include_pad && any_pad) return none;
  const size_t c = static_cast<size_t>(xs[cx]);
  auto kr = std::make_unique<XnnPool>();
  xnn_status st;
  if (is_max)
    st = xnn_create_max_pooling2d_nhwc_f32(pb[0], pe[1], pe[0], pb[1], k[0], k[1], s[0], s[1], d[0], d[1], c, c, c,
                                           -INFINITY, INFINITY, xnn::kOpFlags, kr->op_.out());
  else
    st = xnn_create_average_pooling2d_nhwc_f32(pb[0], pe[1], pe[0], pb[1], k[0], k[1], s[0], s[1], c, c, c, -INFINITY,
                                               INFINITY, xnn::kOpFlags, kr->op_.out());
  if (st != xnn_status_success) return none;
  kr->max_ = is_max;
  kr->ref_.node_name = node.name;
  kr->ref_.op = node.op;
  kr->ref_.options = node.options;
  kr->ref_.inputs = in;
  kr->ref_.outputs = out;
  kr->ref_.num_threads = ctx.num_threads;
  kr->threads_ = ctx.threads;
  kr->name_ = node.name;
  kr->op_name_ = is_max ? "MaxPool" : "AveragePool";
  kr->x_ = x;
  kr->y_ = y;
  kr->n_ = static_cast<size_t>(xs[0]);
  kr->c_ = c;
  kr->ih_ = static_cast<size_t>(in_sz[0]);
  kr->iw_ = static_cast<size_t>(in_sz[1]);
  kr->out_plane_ = static_cast<size_t>(out_sz[0] * out_sz[1]);
  if (!nhwc && c > 1) {
    kr->in_floats_ = (static_cast<size_t>(x->numel()) + 15) / 16 * 16;
    kr->out_floats_ = (static_cast<size_t>(y->numel()) + 15) / 16 * 16;
  }
  st = is_max ? xnn_setup_max_pooling2d_nhwc_f32(kr->op_.get(), kr->n_, kr->ih_, kr->iw_, x->as<float>(), y->as<float>(),
                                                 ctx.threads->pool())
              : xnn_setup_average_pooling2d_nhwc_f32(kr->op_.get(), kr->n_, kr->ih_, kr->iw_, x->as<float>(),
                                                     y->as<float>(), ctx.threads->pool());
  if (st != xnn_status_success) return none;
  if (!kr->in_floats_) {
    kr->last_in_ = x->as<float>();
    kr->last_out_ = y->as<float>();
  }
  return std::unique_ptr<CpuKernel>(std::move(kr));
}

}  // namespace tern::cpu

#else

namespace tern::cpu {
XnnKernelResult create_xnn_pool(const Context&, const NodeView&, XnnTensors, XnnTensors, std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}
}  // namespace tern::cpu

#endif
