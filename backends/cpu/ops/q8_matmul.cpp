// Gemm (fully connected) and MatMul on int8 with Tern's int8 micro-kernels (simd/q8.h), bit-exact
// with the reference (backends/reference/ops/gemm_q8.cpp): A int8 per tensor, B int8 per tensor or
// per output column (weights: zero point 0), bias int32, Y int8 per tensor, fused Relu/Clip.
//
// A constant B (weights) is packed at prepare together with its column offsets (bias and zero-point
// terms folded, q8.h) and the per-column multipliers; an activation B (attention-style MatMul of
// two activations, batched and broadcast as numpy.matmul) is packed into scratch at each run,
// O(size of B) against O(M x size of B) of arithmetic. Work is split over (matrix, row block,
// panel range) only when it is large enough to pay for the thread hand-off.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

namespace tern::cpu {

bool q8_tensor(const TensorRef* t) { return ref::has_quant(t); }

bool q8_kernels_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("TERN_CPU_Q8");
    return !(e && std::strcmp(e, "reference") == 0);
  }();
  return on;
}

namespace detail {

bool make_q8_requant(const simd::Q8Kernels& kt, int64_t n, const TensorRef& a, const TensorRef& b, const TensorRef& y,
                     const ref::ActivationParams& act, int64_t ch0, Q8Requant* r) {
  const int64_t npad = simd::q8_panels(kt, n) * kt.nr;
  r->z_a = ref::q_zero(a);
  r->z_y = ref::q_zero(y);
  if (!ref::q8_activation_bounds(act, ref::q_scale(y), r->z_y, &r->lo, &r->hi)) return false;
  r->mult.assign(static_cast<size_t>(npad), 0);
  r->rsh.assign(static_cast<size_t>(npad), 0);
  r->zb.clear();
  bool any_zb = false;
  std::vector<int32_t> zb(static_cast<size_t>(npad), 0);
  const double s_a = ref::q_scale(a), s_y = ref::q_scale(y);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t c = b.quant->count == 1 ? 0 : ch0 + j;
    // The reference's multiplier, computed once here instead of per call.
    const quant::Multiplier m = ref::make_multiplier(s_a, ref::q_scale(b, c), s_y);
    r->mult[static_cast<size_t>(j)] = m.mult;
    r->rsh[static_cast<size_t>(j)] = 30 + m.shift;
    zb[static_cast<size_t>(j)] = ref::q_zero(b, c);
    any_zb |= zb[static_cast<size_t>(j)] != 0;
  }
  if (any_zb) r->zb = std::move(zb);
  return true;
}

void q8_col_offsets(const simd::Q8Kernels& kt, int64_t k, int64_t n, const int32_t* colsum, const int32_t* bias,
                    int64_t bias_stride, const Q8Requant& r, int32_t* col_off) {
  simd::q8_col_offsets(kt, k, n, colsum, bias, bias_stride, r.z_a, r.zb.empty() ? nullptr : r.zb.data(), col_off);
  std::fill(col_off + n, col_off + simd::q8_panels(kt, n) * kt.nr, 0);
}

}  // namespace detail

namespace {

constexpr int64_t kRowBlock = 96;            // rows per task: a multiple of every micro-kernel's mr
constexpr int64_t kParallelWork = 1 << 20;   // multiply-adds below which one thread does it all
constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

class Q8MatMulKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    uint8_t* s = static_cast<uint8_t*>(scratch);
    const uint8_t* packed = cb_.packed;
    const int32_t* col_off = cb_.col_off;
    if (!b_const_) {
      // Activation B: pack every distinct B matrix and its column offsets for this run.
      int32_t* co = reinterpret_cast<int32_t*>(s + static_cast<size_t>(nb_) * pack_bytes_);
      const int8_t* pb = b_->as<int8_t>();
      const int32_t* bias = bias_ ? bias_->as<int32_t>() : nullptr;
      for (int64_t i = 0; i < nb_; ++i) {
        int32_t* coi = co + i * npad_;
        simd::q8_pack_b(*kt_, k_, n_, pb + i * k_ * n_, b_rs_, b_cs_, s + static_cast<size_t>(i) * pack_bytes_, coi);
        detail::q8_col_offsets(*kt_, k_, n_, coi, bias, bias_stride_, rq_, coi);
      }
      packed = s;
      col_off = co;
      s += round_up(static_cast<size_t>(nb_) * (pack_bytes_ + static_cast<size_t>(npad_) * 4));
    }
    const int8_t* pa = a_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int64_t panels = simd::q8_panels(*kt_, n_);
    const int64_t per_split = (panels + splits_ - 1) / splits_;
    const int64_t per_pair = row_blocks_ * splits_;
    detail::for_parts(threads_, parts_, static_cast<int64_t>(pairs_.size()) * per_pair, [&](int part, int64_t lo, int64_t hi) {
      void* ws = s + static_cast<size_t>(part) * part_bytes_;
      for (int64_t t = lo; t < hi; ++t) {
        const Pair& p = pairs_[static_cast<size_t>(t / per_pair)];
        const int64_t rb = (t % per_pair) / splits_, sp = t % splits_;
        const int64_t r0 = rb * kRowBlock, rows = std::min(kRowBlock, m_ - r0);
        const int64_t p0 = sp * per_split, p1 = std::min(panels, p0 + per_split);
        simd::Q8Cols cols;
        cols.col_off = col_off + p.b * npad_;
        cols.mult = rq_.mult.data();
        cols.rsh = rq_.rsh.data();
        cols.zb = rq_.zb.empty() ? nullptr : rq_.zb.data();
        simd::q8_gemm(*kt_, rows, n_, k_, pa + p.a * a_mat_ + r0 * a_rs_, a_rs_, a_cs_,
                      packed + static_cast<size_t>(p.b) * pack_bytes_, p0, p1, cols, rq_.z_y, rq_.lo, rq_.hi,
                      py + p.y * m_ * n_ + r0 * n_, n_, 1, ws);
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override {
    size_t b = b_const_ ? 0 : round_up(static_cast<size_t>(nb_) * (pack_bytes_ + static_cast<size_t>(npad_) * 4));
    return b + static_cast<size_t>(parts_) * part_bytes_;
  }
  bool packed_input(size_t i) const override { return b_const_ && (i == 1 || (i == 2 && bias_const_)); }
  std::string_view packed_layout() const override { return b_const_ ? std::string_view(cb_.layout) : std::string_view(); }
  std::span<const uint8_t> packed_bytes() const override { return b_const_ ? cb_.blob() : std::span<const uint8_t>{}; }
  bool uses_prepacked() const override { return cb_.prepacked; }

  struct Pair {
    int64_t y, a, b;  // output matrix, A matrix, B matrix
  };
  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *a_ = nullptr, *b_ = nullptr, *bias_ = nullptr, *y_ = nullptr;
  int64_t m_ = 0, n_ = 0, k_ = 0, nb_ = 1, npad_ = 0;
  int64_t a_rs_ = 0, a_cs_ = 1, a_mat_ = 0, b_rs_ = 0, b_cs_ = 1, bias_stride_ = 1;
  int64_t row_blocks_ = 1, splits_ = 1;
  size_t pack_bytes_ = 0, part_bytes_ = 0;
  bool b_const_ = false, bias_const_ = false;
  std::vector<Pair> pairs_;
  detail::Q8Requant rq_;
  detail::Q8PackedB cb_;  // constant B: nb_ packed matrices and their column offsets (nb_ x npad_)
};

// Shared by Gemm and MatMul once the matrix views are known.
KernelResult finish(const Context& ctx, std::unique_ptr<Q8MatMulKernel> k, const NodeView& node,
                    std::span<const uint8_t> is_constant, const ref::ActivationParams& act) {
  const TensorRef &a = *k->a_, &b = *k->b_, &y = *k->y_;
  k->kt_ = &simd::q8_kernels();
  const simd::Q8Kernels& kt = *k->kt_;
  if (!detail::make_q8_requant(kt, k->n_, a, b, y, act, 0, &k->rq_)) return std::unique_ptr<CpuKernel>();
  k->npad_ = simd::q8_panels(kt, k->n_) * kt.nr;
  k->pack_bytes_ = round_up(simd::q8_packed_b_bytes(kt, k->k_, k->n_));
  k->b_const_ = detail::input_constant(node, is_constant, 1) && b.data;
  k->bias_const_ = k->bias_ && detail::input_constant(node, is_constant, 2) && k->bias_->data;
  if (k->b_const_ && k->bias_ && !k->bias_const_) return std::unique_ptr<CpuKernel>();  // (never produced)
  if (k->b_const_ && !detail::q8_take_packed(node, kt, k->b_rs_ == 1 ? "matmul-bt" : "matmul", k->k_, k->n_, k->nb_,
                                              k->pack_bytes_, k->npad_, &k->cb_)) {
    const int32_t* bias = k->bias_ ? k->bias_->as<int32_t>() : nullptr;
    for (int64_t i = 0; i < k->nb_; ++i) {
      int32_t* coi = k->cb_.col_off_mut() + i * k->npad_;
      simd::q8_pack_b(kt, k->k_, k->n_, b.as<int8_t>() + i * k->k_ * k->n_, k->b_rs_, k->b_cs_,
                      k->cb_.packed_mut() + static_cast<size_t>(i) * k->pack_bytes_, coi);
      detail::q8_col_offsets(kt, k->k_, k->n_, coi, bias, k->bias_stride_, k->rq_, coi);
    }
  }
  // Threads: only for work that pays for the hand-off; rows first, then column panels.
  const int64_t work = static_cast<int64_t>(k->pairs_.size()) * k->m_ * k->n_ * k->k_;
  const int threads = detail::thread_count(ctx);
  k->row_blocks_ = (k->m_ + kRowBlock - 1) / kRowBlock;
  k->parts_ = work >= kParallelWork ? threads : 1;
  const int64_t panels = simd::q8_panels(kt, k->n_);
  while (k->parts_ > 1 && static_cast<int64_t>(k->pairs_.size()) * k->row_blocks_ * k->splits_ < 2 * k->parts_ &&
         k->splits_ < panels)
    k->splits_ = std::min(panels, k->splits_ * 2);
  k->threads_ = ctx.threads;
  k->part_bytes_ = round_up(simd::q8_gemm_scratch_bytes(kt, std::min(kRowBlock, k->m_), k->k_));
  return std::unique_ptr<CpuKernel>(std::move(k));
}

// The reference's acceptance (gemm_q8.cpp check_common): anything else goes to it.
bool q8_operands_ok(const TensorRef* a, const TensorRef* b, const TensorRef* y, int b_col_axis) {
  for (const TensorRef* t : {a, b, y}) {
    if (!ref::has_quant(t)) return false;
    for (int i = 0; i < t->quant->count; ++i)
      if (t->quant->zero_point[i] < quant::kQMin || t->quant->zero_point[i] > quant::kQMax) return false;
  }
  if (a->quant->count != 1 || y->quant->count != 1) return false;
  return b->quant->count == 1 || (b->shape.rank == 2 && b->quant->axis == b_col_axis && b->quant->count == b->shape[b_col_axis]);
}

}  // namespace

KernelResult create_q8_gemm(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                            std::span<const uint8_t> is_constant) {
  const TensorRef* a = detail::at(in, 0);
  const TensorRef* b = detail::at(in, 1);
  const TensorRef* c = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !a || !b || !y || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::GemmOptionsT*>(node.options->value);
  if (!q8_operands_ok(a, b, y, o.trans_b ? 0 : 1) || a->shape.rank != 2 || b->shape.rank != 2 || y->shape.rank != 2)
    return std::unique_ptr<CpuKernel>();
  if (o.alpha != 1.0f || (c && o.beta != 1.0f)) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<Q8MatMulKernel>();
  k->m_ = y->shape[0];
  k->n_ = y->shape[1];
  k->k_ = o.trans_a ? a->shape[0] : a->shape[1];
  if (c && (c->dtype != DType::Int32 || (c->numel() != k->n_ && c->numel() != 1) || (c->shape.rank == 2 && c->shape[0] != 1)))
    return std::unique_ptr<CpuKernel>();
  if (k->m_ == 0 || k->n_ == 0 || k->k_ == 0) return std::unique_ptr<CpuKernel>();
  k->a_ = a;
  k->b_ = b;
  k->bias_ = c;
  k->y_ = y;
  k->bias_stride_ = c && c->numel() == k->n_ ? 1 : 0;
  if (o.trans_a) {
    k->a_rs_ = 1;
    k->a_cs_ = k->m_;
  } else {
    k->a_rs_ = k->k_;
    k->a_cs_ = 1;
  }
  if (o.trans_b) {
    k->b_rs_ = 1;
    k->b_cs_ = k->k_;
  } else {
    k->b_rs_ = k->n_;
    k->b_cs_ = 1;
  }
  k->pairs_.push_back({0, 0, 0});
  return finish(ctx, std::move(k), node, is_constant, ref::activation_of(o));
}

KernelResult create_q8_matmul(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                              std::span<const uint8_t> is_constant) {
  const TensorRef* a = detail::at(in, 0);
  const TensorRef* b = detail::at(in, 1);
  const TensorRef* bias = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !a || !b || !y || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  if (!q8_operands_ok(a, b, y, 1) || a->shape.rank == 0 || b->shape.rank == 0) return std::unique_ptr<CpuKernel>();
  const ref::MatMulDims d = ref::matmul_dims(a->shape, b->shape, y->shape);
  if (bias && (bias->dtype != DType::Int32 || bias->numel() != d.n)) return std::unique_ptr<CpuKernel>();
  if (y->numel() == 0 || d.k == 0) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<Q8MatMulKernel>();
  k->m_ = d.m;
  k->n_ = d.n;
  k->k_ = d.k;
  k->a_ = a;
  k->b_ = b;
  k->bias_ = bias;
  k->y_ = y;
  k->a_rs_ = d.k;
  k->a_cs_ = 1;
  k->a_mat_ = d.m * d.k;
  k->b_rs_ = d.n;
  k->b_cs_ = 1;
  k->nb_ = std::max<int64_t>(1, d.batch_b.numel());
  const Shape* ins[2] = {&d.batch_a, &d.batch_b};
  ref::for_each_broadcast<2>(d.batch, ins, [&](int64_t o, int64_t ia, int64_t ib, int64_t) { k->pairs_.push_back({o, ia, ib}); });
  if (k->pairs_.empty()) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::MatMulOptionsT*>(node.options->value);
  return finish(ctx, std::move(k), node, is_constant, ref::activation_of(o));
}

}  // namespace tern::cpu
