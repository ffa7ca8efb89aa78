// AveragePool (1-D / 2-D, NCHW) and GlobalAveragePool on int8, bit-exact with the reference
// (backends/reference/ops/pool_q8.cpp): acc = sum of (x - z_x) over the taps inside the input,
// y = requantize(acc, s_x / (s_y * count)) + z_y, count by the float kernel's rule.
//
// The reference derives a multiplier per output element (the count varies near the borders); here
// they are derived once at prepare per output position of a plane. Each input plane is copied once
// into an int16 plane of x - z_x with a zero border, so every tap is a contiguous add over an
// output row with no bounds tests.
#include <algorithm>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/conv_window.h"
#include "reference/ops/q8_util.h"

namespace tern::cpu {

namespace {

constexpr int64_t kParallelWork = 1 << 18;  // adds below which one thread does it all
constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

class Q8AvgPoolKernel final : public CpuKernel {
 public:
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * part_bytes_; }

  Status run(void* scratch) override {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t H = g_.in[1], W = g_.in[2], OH = g_.out[1], OW = g_.out[2], KH = g_.k[1], KW = g_.k[2];
    const int64_t sh = g_.s[1], sw = g_.s[2], dh = g_.dil[1], dw = g_.dil[2];
    detail::for_parts(threads_, parts_, planes_, [&](int part, int64_t lo, int64_t hi) {
      uint8_t* ws = static_cast<uint8_t*>(scratch) + static_cast<size_t>(part) * part_bytes_;
      int16_t* plane = reinterpret_cast<int16_t*>(ws);
      int32_t* acc = reinterpret_cast<int32_t*>(ws + round_up(static_cast<size_t>(hp_ * wp_) * 2));
      for (int64_t p = lo; p < hi; ++p) {
        std::fill(plane, plane + hp_ * wp_, int16_t{0});
        const int8_t* xc = px + p * g_.in_plane;
        for (int64_t ih = 0; ih < H; ++ih) {
          int16_t* pr = plane + (ih + g_.pad[1]) * wp_ + g_.pad[2];
          for (int64_t iw = 0; iw < W; ++iw) pr[iw] = static_cast<int16_t>(xc[ih * W + iw] - z_x_);
        }
        int8_t* yp = py + p * g_.out_plane;
        for (int64_t oh = 0; oh < OH; ++oh) {
          std::fill(acc, acc + OW, 0);
          for (int64_t kh = 0; kh < KH; ++kh) {
            const int16_t* pr = plane + (oh * sh + kh * dh) * wp_;
            for (int64_t kw = 0; kw < KW; ++kw) kt_->mac_row(acc, pr + kw * dw, OW, sw, 1);
          }
          const int32_t* m = mult_.data() + oh * OW;
          const int32_t* r = rsh_.data() + oh * OW;
          int8_t* yr = yp + oh * OW;
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = simd::q8_requantize(acc[ow], m[ow], r[ow], z_y_, -128, 127);
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
  int64_t planes_ = 0, hp_ = 0, wp_ = 0;
  int32_t z_x_ = 0, z_y_ = 0;
  size_t part_bytes_ = 0;
  std::vector<int32_t> mult_, rsh_;  // per output position of a plane
};

class Q8GlobalPoolKernel final : public CpuKernel {
 public:
  Status run(void*) override {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    detail::for_parts(threads_, parts_, planes_, [&](int, int64_t lo, int64_t hi) {
      for (int64_t p = lo; p < hi; ++p) {
        const int8_t* xp = px + p * hw_;
        int32_t acc = 0;
        for (int64_t i = 0; i < hw_; ++i) acc += xp[i];
        acc -= static_cast<int32_t>(hw_) * z_x_;  // = sum (x - z_x), exactly
        py[p] = simd::q8_requantize(acc, m_.mult, 30 + m_.shift, z_y_, -128, 127);
      }
    });
    return Status::ok();
  }
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  int64_t planes_ = 0, hw_ = 0;
  int32_t z_x_ = 0, z_y_ = 0;
  quant::Multiplier m_;
};

bool per_tensor_q8(const TensorRef* t) {
  return ref::has_quant(t) && t->quant->count == 1 && t->quant->zero_point[0] >= quant::kQMin &&
         t->quant->zero_point[0] <= quant::kQMax;
}

}  // namespace

KernelResult create_q8_pool(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                            std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !per_tensor_q8(x) || !per_tensor_q8(y) || x->shape.rank < 3 || y->numel() == 0)
    return std::unique_ptr<CpuKernel>();
  const float s_x = ref::q_scale(*x), s_y = ref::q_scale(*y);
  const int64_t planes = x->shape[0] * x->shape[1];
  if (node.op == OpType::GlobalAveragePool) {
    auto k = std::make_unique<Q8GlobalPoolKernel>();
    k->hw_ = x->numel() / (planes ? planes : 1);
    if (k->hw_ == 0 || y->numel() != planes) return std::unique_ptr<CpuKernel>();
    k->m_ = ref::make_multiplier(s_x, 1.0 / static_cast<double>(k->hw_), s_y);
    k->threads_ = ctx.threads;
    k->x_ = x;
    k->y_ = y;
    k->planes_ = planes;
    k->z_x_ = ref::q_zero(*x);
    k->z_y_ = ref::q_zero(*y);
    k->parts_ = x->numel() >= kParallelWork ? detail::thread_count(ctx) : 1;
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  if (node.op != OpType::AveragePool || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::PoolOptionsT*>(node.options->value);
  if (o.channels_last || x->shape.rank > 4) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<Q8AvgPoolKernel>();
  k->g_ = ref::make_window(o, x->shape, y->shape);
  const ref::Window3& w = k->g_;
  // The count of every output position (the reference's rule, pool_q8.cpp) and its multiplier.
  k->mult_.resize(static_cast<size_t>(w.out_plane));
  k->rsh_.resize(static_cast<size_t>(w.out_plane));
  for (int64_t oh = 0; oh < w.out[1]; ++oh)
    for (int64_t ow = 0; ow < w.out[2]; ++ow) {
      int64_t counted = 1;
      const int64_t start[3] = {-w.pad[0], oh * w.s[1] - w.pad[1], ow * w.s[2] - w.pad[2]};
      for (int a = 0; a < 3; ++a) {
        int64_t n_in = 0, n_pad = 0;
        for (int64_t t = 0; t < w.k[a]; ++t) {
          const int64_t pos = start[a] + t * w.dil[a];
          n_in += pos >= 0 && pos < w.in[a];
          n_pad += pos >= -w.pad[a] && pos < w.in[a] + w.pad_end[a];
        }
        counted *= o.count_include_pad ? n_pad : n_in;
      }
      const quant::Multiplier m = ref::make_multiplier(s_x, 1.0 / static_cast<double>(counted ? counted : 1), s_y);
      k->mult_[static_cast<size_t>(oh * w.out[2] + ow)] = m.mult;
      k->rsh_[static_cast<size_t>(oh * w.out[2] + ow)] = 30 + m.shift;
    }
  k->kt_ = &simd::q8_kernels();
  k->hp_ = std::max(w.in[1] + w.pad[1], (w.out[1] - 1) * w.s[1] + (w.k[1] - 1) * w.dil[1] + 1);
  k->wp_ = std::max(w.in[2] + w.pad[2], (w.out[2] - 1) * w.s[2] + (w.k[2] - 1) * w.dil[2] + 1);
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  k->planes_ = planes;
  k->z_x_ = ref::q_zero(*x);
  k->z_y_ = ref::q_zero(*y);
  k->parts_ = planes * w.out_plane * w.taps >= kParallelWork ? detail::thread_count(ctx) : 1;
  k->part_bytes_ = round_up(static_cast<size_t>(k->hp_ * k->wp_) * 2) + round_up(static_cast<size_t>(w.out[2]) * 4);
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
