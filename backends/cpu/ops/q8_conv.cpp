// Conv on int8 (NCHW, 1 to 3 spatial dims, any group count) with Tern's int8 micro-kernels
// (simd/q8.h), bit-exact with the reference (backends/reference/ops/conv_q8.cpp): X int8 per
// tensor, W int8 per output channel (axis 0) or per tensor, B int32, Y int8 per tensor, fused
// Relu/Clip. The int8 path is NCHW only (the quantizer compiles without the layout pass).
//
// As a GEMM per (image, group): rows are output pixels, columns the group's output channels,
// k = (input channel, tap). W is packed at prepare (with its column offsets and multipliers). A is
// X itself for a pointwise conv (stride 1, no padding: row p reads X[c][p] with stride P), else an
// im2col matrix [k, P] built in scratch at each run whose padded taps hold z_x (real 0, so they add
// nothing, as the reference's skipped taps). Y[m][p] is written transposed by the epilogue.
//
// Depthwise (one input channel per group, 1-D/2-D) is its own loop: each input plane is copied once
// into an int16 plane of x - z_x with a zero border (the padding), and every tap is a multiply-add
// over a contiguous output row, which the compiler vectorizes; no bounds tests in the inner loop.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/q8_util.h"

namespace tern::cpu {

namespace {

constexpr int64_t kRowBlock = 96;           // pixels per task: a multiple of every micro-kernel's mr
constexpr int64_t kParallelWork = 1 << 20;  // multiply-adds below which one thread does it all
constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

class Q8ConvKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override { return depthwise_ ? run_depthwise(scratch) : run_gemm(scratch); }

  size_t scratch_bytes() const override { return col_bytes_ + static_cast<size_t>(parts_) * part_bytes_; }
  bool packed_input(size_t i) const override { return i == 1 || (i == 2 && bias_const_); }

  Status run_gemm(void* scratch) {
    uint8_t* s = static_cast<uint8_t*>(scratch);
    int8_t* col = pointwise_ ? nullptr : reinterpret_cast<int8_t*>(s);
    uint8_t* ws = s + col_bytes_;
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t P = g_.out_plane, K = cg_ * g_.taps;
    const int64_t panels = simd::q8_panels(*kt_, mg_);
    const int64_t per_split = (panels + splits_ - 1) / splits_;
    const int64_t row_blocks = (P + kRowBlock - 1) / kRowBlock;
    for (int64_t n = 0; n < batch_; ++n)
      for (int64_t gi = 0; gi < group_; ++gi) {
        const int8_t* xg = px + (n * c_ + gi * cg_) * g_.in_plane;
        const int8_t* a = xg;
        if (!pointwise_) {
          im2col(xg, col);
          a = col;
        }
        const detail::Q8Requant& rq = rq_[static_cast<size_t>(gi)];
        simd::Q8Cols cols;
        cols.col_off = col_off_.data() + gi * npad_;
        cols.mult = rq.mult.data();
        cols.rsh = rq.rsh.data();
        cols.zb = rq.zb.empty() ? nullptr : rq.zb.data();
        const uint8_t* bp = packed_.data() + static_cast<size_t>(gi) * pack_bytes_;
        int8_t* yg = py + (n * cout_ + gi * mg_) * P;
        detail::for_parts(threads_, parts_, row_blocks * splits_, [&](int part, int64_t lo, int64_t hi) {
          for (int64_t t = lo; t < hi; ++t) {
            const int64_t r0 = (t / splits_) * kRowBlock, rows = std::min(kRowBlock, P - r0);
            const int64_t p0 = (t % splits_) * per_split, p1 = std::min(panels, p0 + per_split);
            simd::q8_gemm(*kt_, rows, mg_, K, a + r0, 1, P, bp, p0, p1, cols, rq.z_y, rq.lo, rq.hi, yg + r0, 1, P,
                          ws + static_cast<size_t>(part) * part_bytes_);
          }
        });
      }
    return Status::ok();
  }

  // col[(c * taps + tap) * P + p] = the tap's input value of output pixel p, z_x where it is padding.
  void im2col(const int8_t* xg, int8_t* col) const {
    const int64_t P = g_.out_plane;
    const int8_t zx = static_cast<int8_t>(z_x_);
    for (int64_t c = 0; c < cg_; ++c) {
      const int8_t* xc = xg + c * g_.in_plane;
      for (int64_t kd = 0; kd < g_.k[0]; ++kd)
        for (int64_t kh = 0; kh < g_.k[1]; ++kh)
          for (int64_t kw = 0; kw < g_.k[2]; ++kw) {
            int8_t* row = col + (c * g_.taps + (kd * g_.k[1] + kh) * g_.k[2] + kw) * P;
            for (int64_t od = 0; od < g_.out[0]; ++od) {
              const int64_t id = od * g_.s[0] - g_.pad[0] + kd * g_.dil[0];
              for (int64_t oh = 0; oh < g_.out[1]; ++oh) {
                const int64_t ih = oh * g_.s[1] - g_.pad[1] + kh * g_.dil[1];
                int8_t* r = row + (od * g_.out[1] + oh) * g_.out[2];
                if (id < 0 || id >= g_.in[0] || ih < 0 || ih >= g_.in[1]) {
                  std::memset(r, zx, static_cast<size_t>(g_.out[2]));
                  continue;
                }
                const int8_t* xr = xc + (id * g_.in[1] + ih) * g_.in[2];
                const int64_t w0 = kw * g_.dil[2] - g_.pad[2], sw = g_.s[2], ow_n = g_.out[2];
                // Columns [lo, hi) read inside the row; padding on either side.
                const int64_t lo = std::min(ow_n, w0 >= 0 ? 0 : (-w0 + sw - 1) / sw);
                const int64_t hi = std::max(lo, std::min(ow_n, g_.in[2] - w0 <= 0 ? 0 : (g_.in[2] - w0 + sw - 1) / sw));
                std::memset(r, zx, static_cast<size_t>(lo));
                if (sw == 1) std::memcpy(r + lo, xr + lo + w0, static_cast<size_t>(hi - lo));
                else
                  for (int64_t ow = lo; ow < hi; ++ow) r[ow] = xr[ow * sw + w0];
                std::memset(r + hi, zx, static_cast<size_t>(ow_n - hi));
              }
            }
          }
    }
  }

  Status run_depthwise(void* scratch) {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const detail::Q8Requant& rq = rq_[0];
    const int32_t* bias = bias_.empty() ? nullptr : bias_.data();
    const int64_t H = g_.in[1], W = g_.in[2], OH = g_.out[1], OW = g_.out[2], KH = g_.k[1], KW = g_.k[2];
    const int64_t sh = g_.s[1], sw = g_.s[2], dh = g_.dil[1], dw = g_.dil[2];
    detail::for_parts(threads_, parts_, batch_ * c_, [&](int part, int64_t lo, int64_t hi) {
      uint8_t* ws = static_cast<uint8_t*>(scratch) + static_cast<size_t>(part) * part_bytes_;
      int16_t* plane = reinterpret_cast<int16_t*>(ws);
      int32_t* acc = reinterpret_cast<int32_t*>(ws + round_up(static_cast<size_t>(hp_ * wp_) * 2));
      for (int64_t item = lo; item < hi; ++item) {
        const int64_t n = item / c_, ci = item % c_;
        // x - z_x with a zero border: padding is real 0.
        std::fill(plane, plane + hp_ * wp_, int16_t{0});
        const int8_t* xc = px + (n * c_ + ci) * g_.in_plane;
        for (int64_t ih = 0; ih < H; ++ih) {
          int16_t* pr = plane + (ih + g_.pad[1]) * wp_ + g_.pad[2];
          for (int64_t iw = 0; iw < W; ++iw) pr[iw] = static_cast<int16_t>(xc[ih * W + iw] - z_x_);
        }
        for (int64_t j = 0; j < mg_; ++j) {
          const int64_t m = ci * mg_ + j;
          const int16_t* wm = wq_.data() + m * KH * KW;
          int8_t* ym = py + (n * cout_ + m) * g_.out_plane;
          const int32_t b0 = bias ? bias[m] : 0;
          for (int64_t oh = 0; oh < OH; ++oh) {
            std::fill(acc, acc + OW, b0);
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int16_t* pr = plane + (oh * sh + kh * dh) * wp_;
              for (int64_t kw = 0; kw < KW; ++kw) kt_->mac_row(acc, pr + kw * dw, OW, sw, wm[kh * KW + kw]);
            }
            kt_->requant_row(acc, ym + oh * OW, OW, rq.mult[static_cast<size_t>(m)], rq.rsh[static_cast<size_t>(m)], rq.z_y,
                             rq.lo, rq.hi);
          }
        }
      }
    });
    return Status::ok();
  }

  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  ref::Window3 g_;
  int64_t batch_ = 1, c_ = 0, cout_ = 0, group_ = 1, cg_ = 0, mg_ = 0, npad_ = 0, splits_ = 1;
  int32_t z_x_ = 0;
  bool pointwise_ = false, depthwise_ = false, bias_const_ = false;
  size_t pack_bytes_ = 0, part_bytes_ = 0, col_bytes_ = 0;
  int64_t hp_ = 0, wp_ = 0;                   // depthwise: padded plane
  std::vector<detail::Q8Requant> rq_;         // per group (GEMM), or one over all channels (depthwise)
  std::vector<uint8_t> packed_;               // GEMM: W per group, packed
  std::vector<int32_t> col_off_;              // GEMM: group x npad_
  std::vector<int16_t> wq_;                   // depthwise: w - z_w per channel and tap
  std::vector<int32_t> bias_;                 // depthwise: the bias, copied
};

}  // namespace

KernelResult create_q8_conv(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                            std::span<const uint8_t> is_constant) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* w = detail::at(in, 1);
  const TensorRef* b = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !x || !w || !y || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  // The reference's acceptance (conv_q8.cpp); anything else goes to it (and its messages).
  for (const TensorRef* t : {x, w, y}) {
    if (!ref::has_quant(t)) return std::unique_ptr<CpuKernel>();
    for (int i = 0; i < t->quant->count; ++i)
      if (t->quant->zero_point[i] < quant::kQMin || t->quant->zero_point[i] > quant::kQMax) return std::unique_ptr<CpuKernel>();
  }
  if (x->quant->count != 1 || y->quant->count != 1) return std::unique_ptr<CpuKernel>();
  if (w->quant->count != 1 && (w->quant->axis != 0 || w->quant->count != w->shape[0])) return std::unique_ptr<CpuKernel>();
  if (b && (b->dtype != DType::Int32 || b->numel() != y->shape[1])) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::ConvOptionsT*>(node.options->value);
  if (o.channels_last || x->shape.rank < 3 || x->shape.rank > 5 || o.group < 1) return std::unique_ptr<CpuKernel>();
  if (!detail::input_constant(node, is_constant, 1) || !w->data) return std::unique_ptr<CpuKernel>();
  const bool bias_const = b && detail::input_constant(node, is_constant, 2) && b->data;
  if (b && !bias_const) return std::unique_ptr<CpuKernel>();
  if (y->numel() == 0) return std::unique_ptr<CpuKernel>();

  auto k = std::make_unique<Q8ConvKernel>();
  k->kt_ = &simd::q8_kernels();
  const simd::Q8Kernels& kt = *k->kt_;
  k->x_ = x;
  k->y_ = y;
  k->g_ = ref::make_window(o, x->shape, y->shape);
  k->batch_ = x->shape[0];
  k->c_ = x->shape[1];
  k->cout_ = y->shape[1];
  k->group_ = o.group;
  k->cg_ = k->c_ / k->group_;
  k->mg_ = k->cout_ / k->group_;
  k->z_x_ = ref::q_zero(*x);
  k->bias_const_ = bias_const;
  k->threads_ = ctx.threads;
  const ref::Window3& g = k->g_;
  const int threads = detail::thread_count(ctx);
  const int8_t* pw = w->as<int8_t>();
  const int32_t* pb = b ? b->as<int32_t>() : nullptr;
  const ref::ActivationParams act = ref::activation_of(o);
  const int64_t K = k->cg_ * g.taps;

  k->depthwise_ = k->cg_ == 1 && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1;
  if (k->depthwise_) {
    k->rq_.resize(1);
    if (!detail::make_q8_requant(kt, k->cout_, *x, *w, *y, act, 0, &k->rq_[0])) return std::unique_ptr<CpuKernel>();
    k->wq_.resize(static_cast<size_t>(k->cout_ * g.taps));
    for (int64_t m = 0; m < k->cout_; ++m)
      for (int64_t t = 0; t < g.taps; ++t)
        k->wq_[static_cast<size_t>(m * g.taps + t)] = static_cast<int16_t>(pw[m * g.taps + t] - ref::q_zero(*w, m));
    if (pb) k->bias_.assign(pb, pb + k->cout_);
    k->hp_ = std::max(g.in[1] + g.pad[1], (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.dil[1] + 1);
    k->wp_ = std::max(g.in[2] + g.pad[2], (g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.dil[2] + 1);
    const int64_t work = k->batch_ * k->cout_ * g.out_plane * g.taps;
    k->parts_ = work >= kParallelWork / 4 ? threads : 1;  // no packing or hand-off per item: cheaper to split
    k->part_bytes_ = round_up(static_cast<size_t>(k->hp_ * k->wp_) * 2) + round_up(static_cast<size_t>(g.out[2]) * 4);
    return std::unique_ptr<CpuKernel>(std::move(k));
  }

  k->pointwise_ = true;
  for (int i = 0; i < 3; ++i)
    k->pointwise_ &= g.k[i] == 1 && g.s[i] == 1 && g.pad[i] == 0 && g.in[i] == g.out[i];
  k->npad_ = simd::q8_panels(kt, k->mg_) * kt.nr;
  k->pack_bytes_ = round_up(simd::q8_packed_b_bytes(kt, K, k->mg_));
  k->rq_.resize(static_cast<size_t>(k->group_));
  k->packed_.resize(static_cast<size_t>(k->group_) * k->pack_bytes_);
  k->col_off_.resize(static_cast<size_t>(k->group_ * k->npad_));
  for (int64_t gi = 0; gi < k->group_; ++gi) {
    detail::Q8Requant& rq = k->rq_[static_cast<size_t>(gi)];
    if (!detail::make_q8_requant(kt, k->mg_, *x, *w, *y, act, gi * k->mg_, &rq)) return std::unique_ptr<CpuKernel>();
    int32_t* co = k->col_off_.data() + gi * k->npad_;
    // B[kk, j] = W[gi * mg + j][kk]: column stride K.
    simd::q8_pack_b(kt, K, k->mg_, pw + gi * k->mg_ * K, 1, K, k->packed_.data() + static_cast<size_t>(gi) * k->pack_bytes_, co);
    detail::q8_col_offsets(kt, K, k->mg_, co, pb ? pb + gi * k->mg_ : nullptr, 1, rq, co);
  }
  const int64_t P = g.out_plane;
  const int64_t work = P * k->mg_ * K;
  k->parts_ = work >= kParallelWork ? threads : 1;
  const int64_t row_blocks = (P + kRowBlock - 1) / kRowBlock;
  const int64_t panels = simd::q8_panels(kt, k->mg_);
  while (k->parts_ > 1 && row_blocks * k->splits_ < 2 * k->parts_ && k->splits_ < panels)
    k->splits_ = std::min(panels, k->splits_ * 2);
  k->col_bytes_ = k->pointwise_ ? 0 : round_up(static_cast<size_t>(K * P));
  k->part_bytes_ = round_up(simd::q8_gemm_scratch_bytes(kt, std::min(kRowBlock, P), K));
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
