// MatMul on the CPU with Tern's cache-blocked GEMM (simd/gemm.h): batched and broadcast products
// whose B is an activation (attention's Q @ K^T and P @ V written out as MatMuls), and any other
// MatMul the XNNPACK fully-connected kernel does not take. numpy.matmul semantics as the reference:
// 1-D operands promoted, batch dims broadcast; bias [N] and the fused activation applied per row.
//
// B matrices are packed into the micro-kernel's panel layout: once at prepare when B is a constant,
// else at the start of each run into scratch (O(size of B), against O(M x size of B) of
// arithmetic). The (output matrix, row block) pairs are then split across threads.
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/gemm.h"

namespace tern::cpu {

namespace {

constexpr int64_t kRowBlock = 96;  // rows per task: a multiple of every micro-kernel's mr

class MatMulKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const float* pa = a_->as<float>();
    const float* pb = b_->as<float>();
    float* py = y_->as<float>();
    const float* packed = packed_.data();
    if (packed_.empty()) {
      float* dst = static_cast<float*>(scratch);
      detail::for_parts(threads_, parts_, nb_, [&](int, int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) simd::pack_b(*kt_, k_, n_, pb + i * k_ * n_, n_, 1, dst + i * pack_floats_);
      });
      packed = dst;
    }
    const int64_t blocks = (m_ + kRowBlock - 1) / kRowBlock;
    const float* bias = bias_ ? bias_->as<float>() : nullptr;
    detail::for_parts(threads_, parts_, static_cast<int64_t>(pairs_.size()) * blocks, [&](int, int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const Pair& p = pairs_[static_cast<size_t>(t / blocks)];
        const int64_t r0 = (t % blocks) * kRowBlock, rows = std::min(kRowBlock, m_ - r0);
        float* yo = py + p.y * m_ * n_ + r0 * n_;
        simd::gemm(*kt_, rows, n_, k_, pa + p.a * m_ * k_ + r0 * k_, k_, packed + p.b * pack_floats_, yo, n_, false);
        if (bias || act_ != simd::Act::None)
          for (int64_t r = 0; r < rows; ++r) kt_->bias_act(bias, yo + r * n_, n_, act_, p0_, p1_);
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override {
    return packed_.empty() ? static_cast<size_t>(nb_) * pack_floats_ * sizeof(float) : 0;
  }

  struct Pair {
    int64_t y, a, b;  // output matrix, A matrix, B matrix
  };
  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *a_ = nullptr, *b_ = nullptr, *bias_ = nullptr, *y_ = nullptr;
  int64_t m_ = 0, n_ = 0, k_ = 0, nb_ = 1;
  size_t pack_floats_ = 0;
  std::vector<Pair> pairs_;
  std::vector<float> packed_;  // constant B, packed at prepare
  simd::Act act_ = simd::Act::None;
  float p0_ = 0, p1_ = 0;
};

}  // namespace

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
  const int ry = std::max(ra, rb);
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
  const bool b_const = node.inputs.size() > 1 && node.inputs[1] >= 0 &&
                       static_cast<size_t>(node.inputs[1]) < is_constant.size() && is_constant[static_cast<size_t>(node.inputs[1])];
  if (b_const && b->data) {
    k->packed_.resize(static_cast<size_t>(yb) * k->pack_floats_);
    for (int64_t i = 0; i < yb; ++i)
      simd::pack_b(*k->kt_, k->k_, k->n_, b->as<float>() + i * k->k_ * k->n_, k->n_, 1, k->packed_.data() + i * k->pack_floats_);
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
