// Conv (2-D, one group, kernel larger than 1x1) on channels-last float32 with constant weights, on
// Tern's GEMM: Y [pixels, M] = act(A [pixels, kh kw C] B + bias), where row p of A is output pixel
// p's receptive field (im2col: for each tap (a, b), the C channels of input pixel
// (oy sy - pad_top + a dy, ox sx - pad_left + b dx), zeros outside the image) and
// B [kh kw C, M] holds W [M, C, kh, kw] reordered to the same (a, b, c) order, packed once (or
// taken from the plan: `tern compile --prepack`). Output pixels are taken in blocks whose A rows
// (block x kh kw C floats) fit in L2 next to the B panels the GEMM streams; each thread builds its
// block in its own scratch slice, so A never exists in full. With unit dilation along x, the kw
// taps of one kernel row are one contiguous run of kw C floats in NHWC, copied at once.
//
// XNNPACK's convolution (xnn_conv.cpp) keeps depthwise and grouped convolutions and 1-D / 3-D ones;
// pointwise ones go to pointwise_conv.cpp. TERN_CPU_CONV=xnnpack sends these back to XNNPACK too
// (for comparisons).
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/gemm.h"

namespace tern::cpu {

namespace {

constexpr size_t kBlockBytes = 192 * 1024;  // A block per thread: in L2 beside the streamed B panels

class Im2colConv final : public CpuKernel {
 public:
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * block_floats_ * sizeof(float); }
  bool packed_input(size_t i) const override { return i == 1 || (i == 2 && !bias_.empty()); }
  std::string_view packed_layout() const override { return b_.layout; }
  std::span<const uint8_t> packed_bytes() const override { return b_.bytes(); }
  bool uses_prepacked() const override { return b_.prepacked; }

  Status run(void* scratch) override {
    const float* x = x_->as<float>();
    float* y = y_->as<float>();
    const int64_t blocks = (rows_ + block_rows_ - 1) / block_rows_;
    detail::for_parts(threads_, parts_, blocks, [&](int part, int64_t lo, int64_t hi) {
      float* a = static_cast<float*>(scratch) + static_cast<size_t>(part) * block_floats_;
      for (int64_t blk = lo; blk < hi; ++blk) {
        const int64_t r0 = blk * block_rows_, rows = std::min(block_rows_, rows_ - r0);
        for (int64_t r = 0; r < rows; ++r) gather(x, r0 + r, a + r * k_);
        float* yo = y + r0 * m_;
        const simd::Epilogue ep{bias_.empty() ? nullptr : bias_.data(), act_, p0_, p1_};
        simd::gemm(*kt_, rows, m_, k_, a, k_, b_.data, yo, m_, false, &ep);
      }
    });
    return Status::ok();
  }

  // Row `p` of A (output pixel p = (n, oy, ox)) into `dst` (k_ floats).
  void gather(const float* x, int64_t p, float* dst) const {
    const int64_t ox = p % ow_, oy = p / ow_ % oh_, n = p / (ow_ * oh_);
    const float* img = x + n * ih_ * iw_ * c_;
    const int64_t ix0 = ox * sx_ - pl_;
    const bool row_inside = dx_ == 1 && ix0 >= 0 && ix0 + kw_ <= iw_;
    for (int64_t a = 0; a < kh_; ++a, dst += kw_ * c_) {
      const int64_t iy = oy * sy_ - pt_ + a * dy_;
      if (iy < 0 || iy >= ih_) {
        std::memset(dst, 0, static_cast<size_t>(kw_ * c_) * sizeof(float));
        continue;
      }
      const float* src = img + (iy * iw_) * c_;
      if (row_inside) {
        std::memcpy(dst, src + ix0 * c_, static_cast<size_t>(kw_ * c_) * sizeof(float));
        continue;
      }
      for (int64_t b = 0; b < kw_; ++b) {
        const int64_t ix = ix0 + b * dx_;
        if (ix < 0 || ix >= iw_) std::memset(dst + b * c_, 0, static_cast<size_t>(c_) * sizeof(float));
        else std::memcpy(dst + b * c_, src + ix * c_, static_cast<size_t>(c_) * sizeof(float));
      }
    }
  }

  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  int64_t n_ = 0, ih_ = 0, iw_ = 0, c_ = 0, oh_ = 0, ow_ = 0, m_ = 0;
  int64_t kh_ = 1, kw_ = 1, sy_ = 1, sx_ = 1, dy_ = 1, dx_ = 1, pt_ = 0, pl_ = 0;
  int64_t k_ = 0, rows_ = 0, block_rows_ = 0;
  size_t block_floats_ = 0;
  PackedB b_;
  std::vector<float> bias_;
  simd::Act act_ = simd::Act::None;
  float p0_ = 0, p1_ = 0;
};

bool im2col_disabled() {
  static const bool off = [] {
    const char* e = std::getenv("TERN_CPU_CONV");
    return e && std::strcmp(e, "xnnpack") == 0;
  }();
  return off;
}

}  // namespace

KernelResult create_im2col_conv(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                                std::span<const uint8_t> is_constant) {
  std::unique_ptr<CpuKernel> none;
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* w = detail::at(in, 1);
  const TensorRef* bias = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (im2col_disabled() || !x || !w || !y || !node.options || node.options->type != fb::NodeOptions::ConvOptions ||
      !detail::all_f32({x, w, bias, y}))
    return none;
  if (!detail::input_constant(node, is_constant, 1) || !w->data || (bias && (!bias->data || !detail::input_constant(node, is_constant, 2))))
    return none;
  const auto& o = *static_cast<const fb::ConvOptionsT*>(node.options->value);
  if (!o.channels_last || o.group != 1 || x->shape.rank != 4 || w->shape.rank != 4 || y->shape.rank != 4) return none;
  if (o.kernel_shape.size() != 2 || o.strides.size() != 2 || o.dilations.size() != 2 || o.pads.size() != 4) return none;
  auto k = std::make_unique<Im2colConv>();
  k->n_ = x->shape[0];
  k->ih_ = x->shape[1];
  k->iw_ = x->shape[2];
  k->c_ = x->shape[3];
  k->oh_ = y->shape[1];
  k->ow_ = y->shape[2];
  k->m_ = y->shape[3];
  k->kh_ = o.kernel_shape[0];
  k->kw_ = o.kernel_shape[1];
  k->sy_ = o.strides[0];
  k->sx_ = o.strides[1];
  k->dy_ = o.dilations[0];
  k->dx_ = o.dilations[1];
  k->pt_ = o.pads[0];
  k->pl_ = o.pads[1];
  if (k->kh_ * k->kw_ == 1 || w->shape[0] != k->m_ || w->shape[1] != k->c_ || w->shape[2] != k->kh_ || w->shape[3] != k->kw_ ||
      y->shape[0] != k->n_ || (bias && bias->numel() != k->m_) || k->c_ <= 0 || k->m_ <= 0 || y->numel() == 0)
    return none;
  // Measured per layer against XNNPACK on the zoo models (same process, alternating): 20-28 % faster
  // for M >= 96 (EfficientFormer's downsampling convs), slower for M <= 48 (Next-ViT's stem: a
  // 32-wide GEMM tile half empty at M = 16, and the im2col copy weighs more against few output
  // channels), and for 3-channel inputs (short rows). So: wide outputs only.
  if (k->c_ < 8 || k->m_ < 64) return none;
  k->k_ = k->kh_ * k->kw_ * k->c_;
  k->rows_ = k->n_ * k->oh_ * k->ow_;
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  const int64_t mr = k->kt_->gemm_mr;
  const int64_t fit = std::max<int64_t>(mr, static_cast<int64_t>(kBlockBytes / sizeof(float)) / k->k_ / mr * mr);
  const double flops = 2.0 * static_cast<double>(k->rows_) * static_cast<double>(k->k_) * static_cast<double>(k->m_);
  k->parts_ = detail::parts_for_work(ctx, flops);
  // At least two blocks per thread when the image allows it, so the threads' shares balance.
  const int64_t per_part = (k->rows_ + 2 * k->parts_ - 1) / (2 * k->parts_);
  k->block_rows_ = std::min(fit, std::max(mr, (per_part + mr - 1) / mr * mr));
  k->block_floats_ = detail::round_up_floats(static_cast<size_t>(k->block_rows_ * k->k_));
  k->x_ = x;
  k->y_ = y;
  k->act_ = static_cast<simd::Act>(static_cast<int>(o.activation));
  k->p0_ = o.activation_min;
  k->p1_ = o.activation_max;
  if (bias) k->bias_.assign(bias->as<float>(), bias->as<float>() + k->m_);
  // B [kh kw C, M]: W [M, C, kh, kw] reordered so that row kk = (a kw + b) C + c; as the GEMM's
  // strided view of a [M, kh kw C] copy (rs 1, cs K). Not needed when the plan carries it packed.
  pack_constant_b(*k->kt_, node, "conv-hwc", k->k_, k->m_, 1, nullptr, 0, 0, &k->b_);  // the plan's copy, if any
  if (!k->b_.data) {
    const float* wp = w->as<float>();
    std::vector<float> t(static_cast<size_t>(k->m_ * k->k_));
    for (int64_t m = 0; m < k->m_; ++m)
      for (int64_t c = 0; c < k->c_; ++c)
        for (int64_t a = 0; a < k->kh_; ++a)
          for (int64_t b = 0; b < k->kw_; ++b)
            t[static_cast<size_t>(m * k->k_ + (a * k->kw_ + b) * k->c_ + c)] = wp[((m * k->c_ + c) * k->kh_ + a) * k->kw_ + b];
    pack_constant_b(*k->kt_, node, "conv-hwc", k->k_, k->m_, 1, t.data(), 1, k->k_, &k->b_);
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
