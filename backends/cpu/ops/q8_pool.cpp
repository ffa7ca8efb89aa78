// AveragePool (1-D / 2-D, NCHW) and GlobalAveragePool on int8, bit-exact with the reference
// (backends/reference/ops/pool_q8.cpp): acc = sum of (x - z_x) over the taps inside the input,
// y = requantize(acc, s_x / (s_y * count)) + z_y, count by the float kernel's rule.
//
// The reference derives a multiplier per output element (the count varies near the borders); here
// they are derived once at prepare per output position of a plane. Each input plane is copied once
// into an int16 plane of x - z_x with a zero border, so every tap is a contiguous add over an
// output row with no bounds tests.
//
// channels_last AveragePool: each image becomes one padded int16 [H', W', C] copy and every tap
// adds a whole output row with the channels vectorized (q8.h mac_cols with unit weights).
// ReduceMean over one run of axes (the layout pass's NHWC GlobalAveragePool: [N, HW, C] reduced
// over HW) sums rows of C channels, then requantizes like the global pool.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/channels_last.h"
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

// channels_last AveragePool (2-D / 1-D), per image: the padded copy (split by rows), then output
// rows (split by rows).
class Q8AvgPoolNhwcKernel final : public CpuKernel {
 public:
  size_t scratch_bytes() const override { return plane_bytes_ + static_cast<size_t>(parts_) * part_bytes_; }

  Status run(void* scratch) override {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t C = c_, H = g_.in[1], W = g_.in[2], OH = g_.out[1], OW = g_.out[2], KH = g_.k[1], KW = g_.k[2];
    const int64_t pt = g_.pad[1], pl = g_.pad[2];
    int16_t* plane = static_cast<int16_t*>(scratch);
    uint8_t* parts = static_cast<uint8_t*>(scratch) + plane_bytes_;
    for (int64_t n = 0; n < batch_; ++n) {
      const int8_t* xn = px + n * H * W * C;
      detail::padded_plane_nhwc(threads_, parts_, xn, plane, H, W, C, hp_, wp_, pt, pl, z_x_);
      int8_t* yn = py + n * OH * OW * C;
      detail::for_parts(threads_, parts_, OH, [&](int part, int64_t lo, int64_t hi) {
        int32_t* acc = reinterpret_cast<int32_t*>(parts + static_cast<size_t>(part) * part_bytes_);
        for (int64_t oh = lo; oh < hi; ++oh) {
          std::fill(acc, acc + OW * C, 0);
          for (int64_t kh = 0; kh < KH; ++kh) {
            const int16_t* pr = plane + (oh * g_.s[1] + kh * g_.dil[1]) * wp_ * C;
            for (int64_t kw = 0; kw < KW; ++kw) kt_->mac_cols(acc, pr + kw * g_.dil[2] * C, ones_.data(), OW, C, g_.s[2] * C);
          }
          for (int64_t ow = 0; ow < OW; ++ow) {
            const size_t pos = static_cast<size_t>(oh * OW + ow);
            kt_->requant_row(acc + ow * C, yn + (oh * OW + ow) * C, C, mult_[pos], rsh_[pos], z_y_, -128, 127);
          }
        }
      });
    }
    return Status::ok();
  }

  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  ref::Window3 g_;
  int64_t batch_ = 1, c_ = 0, hp_ = 0, wp_ = 0;
  int32_t z_x_ = 0, z_y_ = 0;
  size_t plane_bytes_ = 0, part_bytes_ = 0;
  std::vector<int32_t> mult_, rsh_;  // per output position of an image
  std::vector<int16_t> ones_;        // unit weights, one per channel
};

// ReduceMean over the middle of [outer, red, inner] with inner > 1 (channels_last global pool):
// per outer index, rows of `inner` channels summed over `red`; split over outer x channel chunks.
class Q8ReduceRowsKernel final : public CpuKernel {
 public:
  static constexpr int64_t kChunk = 256;  // channels per task (int32 sums stay in L1)
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * kChunk * 4; }

  Status run(void* scratch) override {
    const int8_t* px = x_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t chunks = (inner_ + kChunk - 1) / kChunk;
    detail::for_parts(threads_, parts_, outer_ * chunks, [&](int part, int64_t lo, int64_t hi) {
      int32_t* acc = static_cast<int32_t*>(scratch) + part * kChunk;
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t a = t / chunks, c0 = (t % chunks) * kChunk, nc = std::min(kChunk, inner_ - c0);
        const int32_t init = -static_cast<int32_t>(red_) * z_x_;  // sum (x - z_x) = sum x - red z_x
        std::fill(acc, acc + nc, init);
        const int8_t* xa = px + a * red_ * inner_ + c0;
        for (int64_t i = 0; i < red_; ++i) {
          const int8_t* xr = xa + i * inner_;
          for (int64_t c = 0; c < nc; ++c) acc[c] += xr[c];
        }
        kt_->requant_row(acc, py + a * inner_ + c0, nc, m_.mult, 30 + m_.shift, z_y_, -128, 127);
      }
    });
    return Status::ok();
  }

  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  int64_t outer_ = 0, red_ = 0, inner_ = 0;
  int32_t z_x_ = 0, z_y_ = 0;
  quant::Multiplier m_;
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
  int64_t planes = x->shape[0] * x->shape[1];
  if (node.op == OpType::ReduceMean) {
    // One contiguous run of reduced axes (the reference's rule): [outer, red, inner].
    if (!node.options || node.options->type != fb::NodeOptions::ReduceOptions || !node.options->value)
      return std::unique_ptr<CpuKernel>();
    const auto& o = *static_cast<const fb::ReduceOptionsT*>(node.options->value);
    const int r = x->shape.rank;
    bool red[kMaxRank] = {};
    for (int i = 0; i < r; ++i) red[i] = o.axes.empty();
    for (int32_t a : o.axes) {
      const int ax = a < 0 ? a + r : a;
      if (ax < 0 || ax >= r) return std::unique_ptr<CpuKernel>();
      red[ax] = true;
    }
    int runs = 0;
    int64_t outer = 1, count = 1, inner = 1;
    bool seen = false;
    for (int i = 0; i < r; ++i) {
      runs += red[i] && (i == 0 || !red[i - 1]);
      if (red[i]) count *= x->shape[i], seen = true;
      else (seen ? inner : outer) *= x->shape[i];
    }
    if (runs != 1 || count == 0 || y->numel() != outer * inner) return std::unique_ptr<CpuKernel>();
    if (inner == 1) {
      planes = outer;  // the NCHW global pool's loop
    } else {
      auto k = std::make_unique<Q8ReduceRowsKernel>();
      k->kt_ = &simd::q8_kernels();
      k->m_ = ref::make_multiplier(s_x, 1.0 / static_cast<double>(count), s_y);
      k->threads_ = ctx.threads;
      k->x_ = x;
      k->y_ = y;
      k->outer_ = outer;
      k->red_ = count;
      k->inner_ = inner;
      k->z_x_ = ref::q_zero(*x);
      k->z_y_ = ref::q_zero(*y);
      k->parts_ = x->numel() >= kParallelWork ? detail::thread_count(ctx) : 1;
      return std::unique_ptr<CpuKernel>(std::move(k));
    }
  }
  if (node.op == OpType::GlobalAveragePool || node.op == OpType::ReduceMean) {
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
  if (x->shape.rank > 4 || y->shape.rank != x->shape.rank) return std::unique_ptr<CpuKernel>();
  const ref::Window3 w = o.channels_last ? ref::make_window(o, ref::channels_first_shape(x->shape), ref::channels_first_shape(y->shape))
                                         : ref::make_window(o, x->shape, y->shape);
  // The count of every output position (the reference's rule, pool_q8.cpp) and its multiplier.
  std::vector<int32_t> mult(static_cast<size_t>(w.out_plane)), rsh(static_cast<size_t>(w.out_plane));
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
      mult[static_cast<size_t>(oh * w.out[2] + ow)] = m.mult;
      rsh[static_cast<size_t>(oh * w.out[2] + ow)] = 30 + m.shift;
    }
  const int64_t hp = std::max(w.in[1] + w.pad[1], (w.out[1] - 1) * w.s[1] + (w.k[1] - 1) * w.dil[1] + 1);
  const int64_t wp = std::max(w.in[2] + w.pad[2], (w.out[2] - 1) * w.s[2] + (w.k[2] - 1) * w.dil[2] + 1);
  if (o.channels_last) {
    auto k = std::make_unique<Q8AvgPoolNhwcKernel>();
    const int64_t C = x->shape[x->shape.rank - 1];
    k->kt_ = &simd::q8_kernels();
    k->g_ = w;
    k->mult_ = std::move(mult);
    k->rsh_ = std::move(rsh);
    k->ones_.assign(static_cast<size_t>(C), 1);
    k->hp_ = hp;
    k->wp_ = wp;
    k->threads_ = ctx.threads;
    k->x_ = x;
    k->y_ = y;
    k->batch_ = x->shape[0];
    k->c_ = C;
    k->z_x_ = ref::q_zero(*x);
    k->z_y_ = ref::q_zero(*y);
    k->parts_ = planes * w.out_plane * w.taps >= kParallelWork ? detail::thread_count(ctx) : 1;
    k->plane_bytes_ = round_up(static_cast<size_t>(hp * wp * C) * 2);
    k->part_bytes_ = round_up(static_cast<size_t>(w.out[2] * C) * 4);
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  auto k = std::make_unique<Q8AvgPoolKernel>();
  k->g_ = w;
  k->mult_ = std::move(mult);
  k->rsh_ = std::move(rsh);
  k->kt_ = &simd::q8_kernels();
  k->hp_ = hp;
  k->wp_ = wp;
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
