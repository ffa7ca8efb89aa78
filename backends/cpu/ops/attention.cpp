// Attention on the CPU: softmax(scale * Q K^T + bias) V over broadcast batch/head dims, fused and
// blocked. First K^T and V of every (batch, head) are packed once into the GEMM's panel layout
// (in scratch); then Q is taken block_rows rows at a time: S = Q_blk K^T (rows x Lk) in the
// thread's scratch slice, sized to stay in L2, the softmax runs on S in place (row max
// subtracted, exp and sum in one pass), and O_blk = S V is written straight to the output. The
// Lq x Lk score matrix never exists in full. Both phases split across threads; the second over
// (batch, head, row block), so a model with fewer heads than threads still uses them all.
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/gemm.h"
#include "reference/ops/util.h"

namespace tern::cpu {

namespace {

struct Offsets {
  int64_t y, q, k, v, bias;
};

class AttentionKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const float* pq = q_->as<float>();
    const float* pk = k_->as<float>();
    const float* pv = v_->as<float>();
    const float* pbias = bias_ ? bias_->as<float>() : nullptr;
    float* py = y_->as<float>();
    float* packed = static_cast<float*>(scratch);
    float* blocks = packed + offs_.size() * (kpack_floats_ + vpack_floats_);
    const int64_t pairs = static_cast<int64_t>(offs_.size());
    // Phase 1: K^T and V of every (batch, head) into the GEMM's panel layout.
    detail::for_parts(threads_, parts_, pairs, [&](int, int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const Offsets& f = offs_[static_cast<size_t>(o)];
        float* kp = packed + static_cast<size_t>(o) * (kpack_floats_ + vpack_floats_);
        if (k_transposed_) simd::pack_b(*kt_, d_, lk_, pk + f.k, lk_, 1, kp);  // K is [D, Lk]
        else simd::pack_b(*kt_, d_, lk_, pk + f.k, 1, d_, kp);                 // K is [Lk, D]
        simd::pack_b(*kt_, lk_, dv_, pv + f.v, dv_, 1, kp + kpack_floats_);
      }
    });
    // Phase 2: (batch, head, block of query rows) tasks, so few heads still fill every thread.
    const int64_t nblk = (lq_ + block_rows_ - 1) / block_rows_;
    detail::for_parts(threads_, parts_, pairs * nblk, [&](int part, int64_t lo, int64_t hi) {
      float* s = blocks + static_cast<size_t>(part) * block_floats_;
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t o = task / nblk, r0 = (task % nblk) * block_rows_;
        const Offsets& f = offs_[static_cast<size_t>(o)];
        const float* kp = packed + static_cast<size_t>(o) * (kpack_floats_ + vpack_floats_);
        const float* vp = kp + kpack_floats_;
        const int64_t rows = std::min(block_rows_, lq_ - r0);
        simd::gemm(*kt_, rows, lk_, d_, pq + f.q + r0 * d_, d_, kp, s, lk_, false);
        for (int64_t i = 0; i < rows; ++i) {
          float* sr = s + i * lk_;
          float sum;
          if (pbias) {
            const float* br = pbias + f.bias + (r0 + i) * bias_rs_;
            for (int64_t j = 0; j < lk_; ++j) sr[j] = sr[j] * scale_ + br[j * bias_cs_];
            sum = kt_->exp_sum(sr, sr, lk_, 1.0f, kt_->max(sr, lk_));
          } else if (scale_ >= 0.0f) {
            sum = kt_->exp_sum(sr, sr, lk_, scale_, scale_ * kt_->max(sr, lk_));
          } else {
            kt_->scale(sr, lk_, scale_);
            sum = kt_->exp_sum(sr, sr, lk_, 1.0f, kt_->max(sr, lk_));
          }
          kt_->scale(sr, lk_, 1.0f / sum);
        }
        simd::gemm(*kt_, rows, dv_, lk_, s, lk_, vp, py + f.y + r0 * dv_, dv_, false);
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override {
    return (offs_.size() * (kpack_floats_ + vpack_floats_) + static_cast<size_t>(parts_) * block_floats_) * sizeof(float);
  }

  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *bias_ = nullptr, *y_ = nullptr;
  int64_t lq_ = 0, lk_ = 0, d_ = 0, dv_ = 0, block_rows_ = 0, bias_rs_ = 0, bias_cs_ = 0;
  bool k_transposed_ = false;
  float scale_ = 1.0f;
  size_t kpack_floats_ = 0, vpack_floats_ = 0, block_floats_ = 0;
  std::vector<Offsets> offs_;
};

// Element strides of `t` broadcast (right-aligned) to a shape of rank `rank`: 0 where t has
// size 1 or no dim. nullopt-like false when a dim neither matches nor is 1.
bool broadcast_strides(const Shape& t, const int64_t* dims, int rank, int64_t* strides) {
  int64_t st = 1;
  for (int i = rank - 1; i >= 0; --i) {
    const int it = i - (rank - t.rank);
    const int64_t d = it >= 0 ? t[it] : 1;
    if (d != 1 && d != dims[i]) return false;
    strides[i] = d == 1 ? 0 : st;
    st *= d;
  }
  return true;
}

}  // namespace

KernelResult create_attention(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                              std::span<const uint8_t>) {
  const TensorRef* q = detail::at(in, 0);
  const TensorRef* kt = detail::at(in, 1);
  const TensorRef* v = detail::at(in, 2);
  const TensorRef* bias = detail::at(in, 3);
  const TensorRef* y = detail::at(out, 0);
  if (!q || !kt || !v || !y || !node.options || !detail::all_f32({q, kt, v, bias, y})) return std::unique_ptr<CpuKernel>();
  const Shape &sq = q->shape, &sk = kt->shape, &sv = v->shape, &sy = y->shape;
  if (sq.rank < 2 || sk.rank < 2 || sv.rank < 2 || sy.rank < 2) return std::unique_ptr<CpuKernel>();
  const auto& o = *static_cast<const fb::AttentionOptionsT*>(node.options->value);
  auto k = std::make_unique<AttentionKernel>();
  k->k_transposed_ = o.k_transposed;
  k->scale_ = o.scale;
  k->lq_ = sq[sq.rank - 2];
  k->d_ = sq[sq.rank - 1];
  k->lk_ = o.k_transposed ? sk[sk.rank - 1] : sk[sk.rank - 2];
  const int64_t dk = o.k_transposed ? sk[sk.rank - 2] : sk[sk.rank - 1];
  k->dv_ = sv[sv.rank - 1];
  if (dk != k->d_ || sv[sv.rank - 2] != k->lk_ || sy[sy.rank - 2] != k->lq_ || sy[sy.rank - 1] != k->dv_)
    return std::unique_ptr<CpuKernel>();
  if (y->numel() == 0 || k->lk_ == 0 || k->d_ == 0) return std::unique_ptr<CpuKernel>();

  // Batch dims of the output; every input broadcast against them (bias over [..., Lq, Lk]).
  const int rb = sy.rank - 2;
  int64_t dims[kMaxRank + 2];
  for (int i = 0; i < rb; ++i) dims[i] = sy[i];
  int64_t stq[kMaxRank], stk[kMaxRank], stv[kMaxRank], stb[kMaxRank + 2];
  if (!broadcast_strides(ref::batch_dims(sq), dims, rb, stq) || !broadcast_strides(ref::batch_dims(sk), dims, rb, stk) ||
      !broadcast_strides(ref::batch_dims(sv), dims, rb, stv))
    return std::unique_ptr<CpuKernel>();
  if (bias) {
    dims[rb] = k->lq_;
    dims[rb + 1] = k->lk_;
    if (bias->shape.rank > rb + 2 || !broadcast_strides(bias->shape, dims, rb + 2, stb)) return std::unique_ptr<CpuKernel>();
    k->bias_rs_ = stb[rb];
    k->bias_cs_ = stb[rb + 1];
  }
  int64_t total = 1;
  for (int i = 0; i < rb; ++i) total *= dims[i];
  const int64_t mq = k->lq_ * k->d_, mk = k->lk_ * k->d_, mv = k->lk_ * k->dv_, my = k->lq_ * k->dv_;
  for (int64_t b = 0; b < total; ++b) {
    int64_t rem = b;
    Offsets f{b * my, 0, 0, 0, 0};
    for (int i = rb - 1; i >= 0; --i) {
      const int64_t d = rem % dims[i];
      rem /= dims[i];
      f.q += d * stq[i] * mq;
      f.k += d * stk[i] * mk;
      f.v += d * stv[i] * mv;
      if (bias) f.bias += d * stb[i];
    }
    k->offs_.push_back(f);
  }
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  k->parts_ = detail::parts_for_work(
      ctx, 2.0 * static_cast<double>(total) * static_cast<double>(k->lq_ * k->lk_) * static_cast<double>(k->d_ + k->dv_));
  k->q_ = q;
  k->k_ = kt;
  k->v_ = v;
  k->bias_ = bias;
  k->y_ = y;
  // Rows per block: the block's scores (rows x Lk floats) within ~128 KiB, a whole number of
  // micro-kernel tiles, at least one tile.
  const int64_t mr = k->kt_->gemm_mr;
  int64_t rows = std::max<int64_t>(1, (128 * 1024 / 4) / k->lk_);
  rows = std::max(mr, rows / mr * mr);
  k->block_rows_ = std::min(rows, (k->lq_ + mr - 1) / mr * mr);
  k->kpack_floats_ = detail::round_up_floats(simd::packed_b_floats(*k->kt_, k->d_, k->lk_));
  k->vpack_floats_ = detail::round_up_floats(simd::packed_b_floats(*k->kt_, k->lk_, k->dv_));
  k->block_floats_ = detail::round_up_floats(static_cast<size_t>(k->block_rows_ * k->lk_));
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
