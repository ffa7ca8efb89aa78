// MatMul on the CPU with Tern's cache-blocked GEMM (simd/gemm.h): fully connected layers (a
// constant B: MatMul weights, and pointwise channels-last Conv through create_dense), batched and
// broadcast products whose B is an activation (attention's Q @ K^T and P @ V written out as
// MatMuls). numpy.matmul semantics as the reference: 1-D operands promoted, batch dims broadcast;
// bias [N] and the fused activation applied per row. Tern's GEMM beats the 2022 XNNPACK's
// fully-connected operator on every layer shape of the zoo we measured (1.1-1.5x, e.g. 49x448x1792
// 133 vs 90 GFLOP/s), so it takes constant-weight MatMuls too.
//
// B matrices are packed into the micro-kernel's panel layout: once at prepare when B is a constant
// (the mapped original is then released), else at the start of each run into scratch (O(size of
// B), against O(M x size of B) of arithmetic). A constant 2-D B with an unbroadcast A is one
// [rows of every batch, K] x [K, N] product. Tasks are (output matrix, row block, column block)
// triples (plan_tasks): one per matrix at one thread; over threads, column blocks (whole
// micro-kernel panels) for a single product whose B outweighs A, else balanced row blocks, plus
// column blocks when rows cannot give every thread work.
#include <string>
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/gemm.h"

namespace tern::cpu {

namespace {

constexpr int64_t kTaskRows = 256;  // rows per task at most when splitting over threads

class MatMulKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const float* pa = a_->as<float>();
    const float* pb = b_ ? b_->as<float>() : nullptr;  // null: create_dense (B only packed)
    float* py = y_->as<float>();
    const float* packed = cb_.data;
    if (!packed) {
      float* dst = static_cast<float*>(scratch);
      detail::for_parts(threads_, parts_, nb_, [&](int, int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) simd::pack_b(*kt_, k_, n_, pb + i * k_ * n_, n_, 1, dst + i * pack_floats_);
      });
      packed = dst;
    }
    const int64_t blocks = (m_ + row_block_ - 1) / row_block_;
    const float* bias = bias_copy_.empty() ? (bias_ ? bias_->as<float>() : nullptr) : bias_copy_.data();
    const int64_t per_matrix = blocks * col_blocks_;
    detail::for_parts(threads_, parts_, static_cast<int64_t>(pairs_.size()) * per_matrix, [&](int, int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const Pair& p = pairs_[static_cast<size_t>(t / per_matrix)];
        const int64_t rb = t % per_matrix / col_blocks_, cb = t % col_blocks_;
        const int64_t r0 = rb * row_block_, rows = std::min(row_block_, m_ - r0);
        const int64_t c0 = cb * col_width_, cols = std::min(col_width_, n_ - c0);
        float* yo = py + p.y * m_ * n_ + r0 * n_ + c0;
        // Panel c0 / nr of the packed B starts c0 / nr panels of k * nr floats in.
        const simd::Epilogue ep{bias ? bias + c0 : nullptr, act_, p0_, p1_};
        simd::gemm(*kt_, rows, cols, k_, pa + p.a * m_ * k_ + r0 * k_, k_, packed + p.b * pack_floats_ + c0 * k_, yo, n_, false, &ep);
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override {
    return cb_.data ? 0 : static_cast<size_t>(nb_) * pack_floats_ * sizeof(float);
  }
  // A constant B was packed at prepare (or comes packed in the plan); a bias is copied then too (so
  // both mapped originals can go).
  bool packed_input(size_t i) const override { return (i == b_input_ && cb_.data) || (i == 2 && !bias_copy_.empty()); }
  std::string_view packed_layout() const override { return cb_.layout; }
  std::span<const uint8_t> packed_bytes() const override { return cb_.data ? cb_.bytes() : std::span<const uint8_t>{}; }
  bool uses_prepacked() const override { return cb_.prepacked; }

  // A constant B: packed here or the plan's prepacked copy (pack_constant_b).
  void take_constant_b(const NodeView& node, const float* b, int64_t rs, int64_t cs) {
    pack_constant_b(*kt_, node, "matmul", k_, n_, nb_, b, rs, cs, &cb_);
  }

  // Tasks: one per matrix at one thread (the GEMM blocks internally, so B streams once per run),
  // else row blocks in a multiple of the thread count (balanced, whole micro-kernel tiles, at most
  // ~kTaskRows rows), plus column blocks (whole panels) when that still gives too few tasks.
  void plan_tasks() {
    const int64_t mr = kt_->gemm_mr, nr = kt_->gemm_nr, panels = (n_ + nr - 1) / nr;
    const int64_t pairs = static_cast<int64_t>(pairs_.size());
    // One product over threads with few rows against a wide B (EfficientFormer's 7x7 stage: 49
    // rows, a 448 x 1792 weight): column blocks, so each thread reads its share of B once. Row
    // blocks would each stream all of B, and 49 rows in whole 12-row tiles split 36 / 13. Taken
    // when whole row tiles split unevenly (> 15 %) or B exceeds L2 (1 MiB); otherwise rows.
    const int64_t tiles = (m_ + mr - 1) / mr;
    const bool uneven = (tiles + parts_ - 1) / parts_ * parts_ > tiles * 115 / 100;
    if (parts_ > 1 && pairs == 1 && n_ > m_ && panels >= parts_ && (uneven || k_ * n_ * 4 > (int64_t{1} << 20))) {
      row_block_ = (m_ + mr - 1) / mr * mr;
      col_width_ = (panels + parts_ - 1) / parts_ * nr;
      col_blocks_ = (n_ + col_width_ - 1) / col_width_;
      return;
    }
    int64_t row_tasks = 1;
    if (parts_ > 1 && pairs < parts_) row_tasks = parts_ * std::max<int64_t>(1, (m_ + parts_ * kTaskRows - 1) / (parts_ * kTaskRows));
    row_block_ = std::max(mr, ((m_ + row_tasks - 1) / row_tasks + mr - 1) / mr * mr);
    const int64_t tasks = pairs * ((m_ + row_block_ - 1) / row_block_);
    col_blocks_ = 1;
    if (parts_ > 1 && tasks < parts_) col_blocks_ = std::min<int64_t>(panels, (parts_ + tasks - 1) / tasks);
    col_width_ = (panels + col_blocks_ - 1) / col_blocks_ * nr;
    col_blocks_ = (n_ + col_width_ - 1) / col_width_;
  }

  struct Pair {
    int64_t y, a, b;  // output matrix, A matrix, B matrix
  };
  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *a_ = nullptr, *b_ = nullptr, *bias_ = nullptr, *y_ = nullptr;
  int64_t m_ = 0, n_ = 0, k_ = 0, nb_ = 1;
  int64_t row_block_ = 1, col_blocks_ = 1, col_width_ = 0;
  size_t pack_floats_ = 0, b_input_ = 1;
  std::vector<Pair> pairs_;
  PackedB cb_;  // constant B (take_constant_b); cb_.data null: B is an activation, packed per run
  std::vector<float> bias_copy_;  // constant bias, copied at prepare
  simd::Act act_ = simd::Act::None;
  float p0_ = 0, p1_ = 0;
};

}  // namespace

void pack_constant_b(const simd::Kernels& kt, const NodeView& node, const char* form, int64_t k, int64_t n, int64_t nb,
                     const float* b, int64_t rs, int64_t cs, PackedB* out) {
  out->nb = nb;
  out->floats = detail::round_up_floats(simd::packed_b_floats(kt, k, n));
  out->layout = std::string("f32-panels-v1/") + kt.gemm_name + "/" + form + "/k" + std::to_string(k) + "n" + std::to_string(n) +
                "b" + std::to_string(nb);
  if (const void* p = find_prepacked(node, out->layout, static_cast<size_t>(nb) * out->floats * sizeof(float))) {
    out->data = static_cast<const float*>(p);
    out->prepacked = true;
    return;
  }
  if (!b) return;  // only looking for the plan's copy (the caller builds B first when it is absent)
  out->own.resize(static_cast<size_t>(nb) * out->floats);
  for (int64_t i = 0; i < nb; ++i) simd::pack_b(kt, k, n, b + i * k * n, rs, cs, out->own.data() + i * out->floats);
  out->data = out->own.data();
}

KernelResult create_matmul_batched(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                                   std::span<const uint8_t> is_constant) {
  const TensorRef* a = detail::at(in, 0);
  const TensorRef* b = detail::at(in, 1);
  const TensorRef* bias = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!a || !b || !y || !detail::all_f32({a, b, bias, y})) return std::unique_ptr<CpuKernel>();
  const Shape &sa = a->shape, &sb = b->shape;
  if (sa.rank == 0 || sb.rank == 0) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<MatMulKernel>();
  const bool a_vec = sa.rank == 1, b_vec = sb.rank == 1;
  k->m_ = a_vec ? 1 : sa[sa.rank - 2];
  k->k_ = sa[sa.rank - 1];
  k->n_ = b_vec ? 1 : sb[sb.rank - 1];
  if (y->numel() == 0 || k->k_ == 0) return std::unique_ptr<CpuKernel>();  // the reference fills zeros
  if (bias && bias->numel() != k->n_) return std::unique_ptr<CpuKernel>();
  if (node.options) {
    const auto& o = *static_cast<const fb::MatMulOptionsT*>(node.options->value);
    k->act_ = static_cast<simd::Act>(static_cast<int>(o.activation));
    k->p0_ = o.activation_min;
    k->p1_ = o.activation_max;
  }
  // Batch shapes, right-aligned against the output's; strides 0 where a side broadcasts.
  const int ra = a_vec ? 0 : sa.rank - 2, rb = b_vec ? 0 : sb.rank - 2;
  int ry = std::max(ra, rb);
  int64_t ya = 1, yb = 1, total = 1;
  std::vector<int64_t> dims(static_cast<size_t>(ry)), sta(static_cast<size_t>(ry)), stb(static_cast<size_t>(ry));
  for (int i = ry - 1; i >= 0; --i) {
    const int ia = i - (ry - ra), ib = i - (ry - rb);
    const int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    dims[static_cast<size_t>(i)] = std::max(da, db);
    sta[static_cast<size_t>(i)] = da == 1 ? 0 : ya;
    stb[static_cast<size_t>(i)] = db == 1 ? 0 : yb;
    ya *= da;
    yb *= db;
    total *= dims[static_cast<size_t>(i)];
  }
  k->nb_ = yb;
  // A constant-shaped 2-D B (no batch) and an A with the output's batch dims: all rows of all
  // batches form one [total * m, k] matrix (contiguous in A and Y).
  if (!b_vec && sb.rank == 2 && !a_vec && ya == total) {
    k->m_ *= total;
    total = 1;
    ry = 0;
  }
  for (int64_t o = 0; o < total; ++o) {
    int64_t rem = o, ia = 0, ib = 0;
    for (int i = ry - 1; i >= 0; --i) {
      const int64_t d = rem % dims[static_cast<size_t>(i)];
      rem /= dims[static_cast<size_t>(i)];
      ia += d * sta[static_cast<size_t>(i)];
      ib += d * stb[static_cast<size_t>(i)];
    }
    k->pairs_.push_back({o, ia, ib});
  }
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  k->parts_ = detail::parts_for_work(
      ctx, 2.0 * static_cast<double>(total) * static_cast<double>(k->m_ * k->n_) * static_cast<double>(k->k_));
  k->a_ = a;
  k->b_ = b;
  k->bias_ = bias;
  k->y_ = y;
  k->pack_floats_ = detail::round_up_floats(simd::packed_b_floats(*k->kt_, k->k_, k->n_));
  const bool b_const = detail::input_constant(node, is_constant, 1);
  if (b_const && b->data) {
    k->take_constant_b(node, b->as<float>(), k->n_, 1);
    if (bias && detail::input_constant(node, is_constant, 2)) k->bias_copy_.assign(bias->as<float>(), bias->as<float>() + k->n_);
  }
  k->plan_tasks();
  return std::unique_ptr<CpuKernel>(std::move(k));
}

KernelResult create_dense(const Context& ctx, const NodeView& node, const TensorRef* a, const TensorRef* y, int64_t m,
                          int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, const float* bias, simd::Act act,
                          float p0, float p1) {
  if (!a || !y || !b || m <= 0 || k <= 0 || n <= 0 || a->numel() != m * k || y->numel() != m * n) return std::unique_ptr<CpuKernel>();
  auto d = std::make_unique<MatMulKernel>();
  d->kt_ = &simd::kernels();
  d->threads_ = ctx.threads;
  d->m_ = m;
  d->k_ = k;
  d->n_ = n;
  d->act_ = act;
  d->p0_ = p0;
  d->p1_ = p1;
  d->a_ = a;
  d->b_ = nullptr;
  d->y_ = y;
  d->pairs_.push_back({0, 0, 0});
  d->parts_ = detail::parts_for_work(ctx, 2.0 * static_cast<double>(m * n) * static_cast<double>(k));
  d->pack_floats_ = detail::round_up_floats(simd::packed_b_floats(*d->kt_, k, n));
  d->take_constant_b(node, b, rs, cs);
  if (bias) d->bias_copy_.assign(bias, bias + n);
  d->plan_tasks();
  return std::unique_ptr<CpuKernel>(std::move(d));
}

KernelResult create_gemm_dense(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                               std::span<const uint8_t> is_constant) {
  std::unique_ptr<CpuKernel> none;
  const TensorRef* a = detail::at(in, 0);
  const TensorRef* b = detail::at(in, 1);
  const TensorRef* c = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  if (!a || !b || !y || !node.options || node.options->type != fb::NodeOptions::GemmOptions || !detail::all_f32({a, b, c, y}))
    return none;
  const auto& o = *static_cast<const fb::GemmOptionsT*>(node.options->value);
  if (o.trans_a || o.alpha != 1.0f || (c && o.beta != 1.0f) || a->shape.rank != 2 || b->shape.rank != 2 || !b->data ||
      !detail::input_constant(node, is_constant, 1) || (c && (!c->data || !detail::input_constant(node, is_constant, 2))))
    return none;
  const int64_t m = a->shape[0], k = a->shape[1], n = o.trans_b ? b->shape[0] : b->shape[1];
  if ((o.trans_b ? b->shape[1] : b->shape[0]) != k || (c && (c->numel() != n || c->shape[c->shape.rank - 1] != n)))
    return none;  // a scalar or per-row C: XNNPACK / the reference
  return create_dense(ctx, node, a, y, m, k, n, b->as<float>(), o.trans_b ? 1 : n, o.trans_b ? k : 1,
                      c ? c->as<float>() : nullptr, static_cast<simd::Act>(static_cast<int>(o.activation)), o.activation_min,
                      o.activation_max);
}

}  // namespace tern::cpu
