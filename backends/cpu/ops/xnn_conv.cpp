// Conv (1-D and 2-D, any groups incl. depthwise, dilation, asymmetric pads, fused activation) on
// XNNPACK's NHWC convolution.
//
// XNNPACK convolves channels-last tensors. A Conv the layout pass marked channels_last reads and
// writes NHWC directly; an NCHW Conv is transposed into scratch, convolved, and transposed back
// (skipped on a side whose spatial size or channel count is 1, where both layouts coincide).
// Relu / Clip become the operator's output clamp; any other fused activation is a pass over Y.
#include <cstring>
#include <vector>

#include "cpu/ops/xnn_ops.h"

#if TERN_HAVE_XNNPACK
#include <xnnpack.h>

namespace tern::cpu {

namespace {

class XnnConv final : public CpuKernel {
 public:
  size_t scratch_bytes() const override { return (in_floats_ + out_floats_) * sizeof(float); }

  Status run(void* scratch) override {
    const float* in = x_->as<float>();
    float* out = y_->as<float>();
    float* s = static_cast<float*>(scratch);
    if (in_floats_) {
      xnn::nchw_to_nhwc(threads_, in, s, n_, c_, in_plane_);
      in = s;
    }
    if (out_floats_) out = s + in_floats_;
    if (in != last_in_ || out != last_out_) {
      // Pointers change only on the first run (scratch is allocated after create); the shapes
      // never do, so XNNPACK only refreshes its indirection pointers here and allocates nothing.
      if (xnn_setup_convolution2d_nhwc_f32(op_.get(), static_cast<size_t>(n_), static_cast<size_t>(ih_),
                                           static_cast<size_t>(iw_), in, out, pool_) != xnn_status_success)
        return TERN_ERROR(kInternal, "node '%s' (Conv): XNNPACK rejected the convolution's setup", name_);
      last_in_ = in;
      last_out_ = out;
    }
    if (xnn_run_operator(op_.get(), pool_) != xnn_status_success)
      return TERN_ERROR(kInternal, "node '%s' (Conv): XNNPACK failed to run the convolution", name_);
    if (out_floats_) xnn::nhwc_to_nchw(threads_, out, y_->as<float>(), n_, m_, out_plane_);
    xnn::apply_post(threads_, post_, y_->as<float>(), y_->numel());
    return Status::ok();
  }

  // XNNPACK copies the weights and the bias into its packed buffer at create.
  bool packed_input(size_t i) const override { return i == 1 || i == 2; }

  xnn::Op op_;
  Threads* threads_ = nullptr;
  pthreadpool* pool_ = nullptr;  // threads_'s pool, or none for a small convolution
  const char* name_ = "";
  const TensorRef* x_ = nullptr;
  const TensorRef* y_ = nullptr;
  int64_t n_ = 0, c_ = 0, m_ = 0, ih_ = 1, iw_ = 1, in_plane_ = 1, out_plane_ = 1;
  size_t in_floats_ = 0, out_floats_ = 0;  // scratch for the NCHW <-> NHWC copies (0: not needed)
  ref::ActivationParams post_;
  const float* last_in_ = nullptr;
  float* last_out_ = nullptr;
};

}  // namespace

XnnKernelResult create_xnn_conv(const Context& ctx, const NodeView& node, XnnTensors in, XnnTensors out,
                                std::span<const uint8_t> is_constant) {
  std::unique_ptr<CpuKernel> none;
  if (!xnn_available() || !node.options || in.size() < 2 || out.empty()) return none;
  const TensorRef* x = in[0];
  const TensorRef* w = in[1];
  const TensorRef* b = in.size() > 2 ? in[2] : nullptr;
  const TensorRef* y = out[0];
  if (!x || !w || !y || x->dtype != DType::Float32 || w->dtype != DType::Float32 || y->dtype != DType::Float32) return none;
  if (b && b->dtype != DType::Float32) return none;
  if (!xnn::input_is_constant(node, in, is_constant, 1)) return none;
  if (b && !xnn::input_is_constant(node, in, is_constant, 2)) return none;
  if ((x->shape.rank != 3 && x->shape.rank != 4) || y->shape.rank != x->shape.rank || w->shape.rank != x->shape.rank)
    return none;
  if (x->numel() == 0 || y->numel() == 0) return none;
  const auto& o = *static_cast<const fb::ConvOptionsT*>(node.options->value);
  const bool nhwc = o.channels_last;
  const int spatial = x->shape.rank - 2;
  if (o.kernel_shape.size() != static_cast<size_t>(spatial) || o.strides.size() != static_cast<size_t>(spatial) ||
      o.dilations.size() != static_cast<size_t>(spatial) || o.pads.size() != static_cast<size_t>(2 * spatial))
    return none;
  // Channel and spatial dims by layout; 1-D convs are 2-D with height 1.
  const Shape& xs = x->shape;
  const Shape& ys = y->shape;
  const int cx = nhwc ? xs.rank - 1 : 1, sx = nhwc ? 1 : 2;
  const int64_t n = xs[0], c = xs[cx], m = ys[cx];
  int64_t ih = 1, iw = xs[sx + spatial - 1], oh = 1, ow = ys[sx + spatial - 1];
  uint32_t kh = 1, kw = static_cast<uint32_t>(o.kernel_shape.back()), sh = 1, sw = static_cast<uint32_t>(o.strides.back());
  uint32_t dh = 1, dw = static_cast<uint32_t>(o.dilations.back());
  uint32_t pt = 0, pb = 0, pl = static_cast<uint32_t>(o.pads[spatial - 1]), pr = static_cast<uint32_t>(o.pads[2 * spatial - 1]);
  if (spatial == 2) {
    ih = xs[sx];
    oh = ys[sx];
    kh = static_cast<uint32_t>(o.kernel_shape[0]);
    sh = static_cast<uint32_t>(o.strides[0]);
    dh = static_cast<uint32_t>(o.dilations[0]);
    pt = static_cast<uint32_t>(o.pads[0]);
    pb = static_cast<uint32_t>(o.pads[2]);
  }
  const int64_t group = o.group;
  if (group < 1 || c % group || m % group || w->shape[0] != m || w->shape[1] * group != c) return none;
  const int64_t cg = c / group, taps = static_cast<int64_t>(kh) * kw;
  if (b && b->numel() != m) return none;

  // ONNX weights [M, C/g, kh, kw] -> XNNPACK's [M, kh, kw, C/g] (M = groups x M/g).
  const float* wsrc = w->as<float>();
  std::vector<float> packed;
  if (cg > 1 && taps > 1) {
    packed.resize(static_cast<size_t>(m * taps * cg));
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t ic = 0; ic < cg; ++ic)
        for (int64_t t = 0; t < taps; ++t) packed[static_cast<size_t>((oc * taps + t) * cg + ic)] = wsrc[(oc * cg + ic) * taps + t];
    wsrc = packed.data();
  }
  const xnn::Activation act = xnn::split_activation(o.activation, o.activation_min, o.activation_max);
  auto k = std::make_unique<XnnConv>();
  if (xnn_create_convolution2d_nhwc_f32(pt, pr, pb, pl, kh, kw, sh, sw, dh, dw, static_cast<uint32_t>(group),
                                        static_cast<size_t>(cg), static_cast<size_t>(m / group), static_cast<size_t>(c),
                                        static_cast<size_t>(m), wsrc, b ? b->as<float>() : nullptr, act.lo, act.hi, xnn::kOpFlags,
                                        k->op_.out()) != xnn_status_success)
    return none;  // a geometry this XNNPACK does not take: the reference runs it
  k->threads_ = ctx.threads;
  k->pool_ = ctx.threads->pool_for(2.0 * static_cast<double>(n * m * oh * ow) * static_cast<double>(cg * taps));
  k->name_ = node.name;
  k->x_ = x;
  k->y_ = y;
  k->n_ = n;
  k->c_ = c;
  k->m_ = m;
  k->ih_ = ih;
  k->iw_ = iw;
  k->in_plane_ = ih * iw;
  k->out_plane_ = oh * ow;
  if (!nhwc && c > 1 && ih * iw > 1) k->in_floats_ = static_cast<size_t>((n * c * ih * iw + 15) / 16 * 16);
  if (!nhwc && m > 1 && oh * ow > 1) k->out_floats_ = static_cast<size_t>((n * m * oh * ow + 15) / 16 * 16);
  k->post_ = act.post;
  // Set up once now with the tensors' own pointers so that XNNPACK sizes its indirection buffer at
  // prepare; run() only swaps pointers when it uses scratch.
  if (xnn_setup_convolution2d_nhwc_f32(k->op_.get(), static_cast<size_t>(n), static_cast<size_t>(ih), static_cast<size_t>(iw),
                                       x->as<float>(), y->as<float>(), k->pool_) != xnn_status_success)
    return none;
  if (!k->in_floats_ && !k->out_floats_) {
    k->last_in_ = x->as<float>();
    k->last_out_ = y->as<float>();
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu

#else

namespace tern::cpu {
XnnKernelResult create_xnn_conv(const Context&, const NodeView&, XnnTensors, XnnTensors, std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}
}  // namespace tern::cpu

#endif
