// tern.LMU on the CPU (semantics: shared/spec/tern_ops.py): m_t = A m_{t-1} + B u_t per channel.
//
// Two GEMM-shaped forms, both over the simd GEMM with operands packed at prepare:
//  * Closed form (zero initial state, the m output bound): m_t = sum_{j<=t} H[j] u_{t-j} with the
//    impulse response H[j] = A^j B. For each (batch, channel) the first Lt steps are one GEMM
//    M[Lt, n] = T(u)[Lt, Lt] H[Lt, n] with T the causal Toeplitz matrix of u; its rows are windows
//    of the reversed, zero-padded sequence (row stride -1), so T is never materialized, and tiles
//    above the diagonal are skipped (half the products). Its cost per step grows with Lt, so
//    Lt = min(L, 2n) keeps it at or below the recurrence's n^2 per step.
//  * Recurrence for the remaining steps (and with m0): per step one GEMM
//    m_t[rows, n] = m_{t-1}[rows, n] A^T + u_t B^T over a block of channels (or, with one channel,
//    over the batch), A^T packed once.
// Cost is linear in L either way. Tasks (batch x channel block) run in parallel; each keeps
// its state rows in its scratch slice when the m output is absent, and writes mT at the end, so
// mT may alias m0. A and B must be constants (they are weights in every exporter's graph).
#include <cstring>
#include <vector>

#include "cpu/ops/simd_ops.h"
#include "cpu/simd/gemm.h"

namespace tern::cpu {

namespace {

constexpr int64_t kChannelBlock = 48;  // rows per recurrence task: a multiple of every mr

class LmuKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    const int64_t cn = ch_ * n_;
    float* pm = m_ ? m_->as<float>() : nullptr;
    const float* pu = u_->as<float>();
    if (lt_ > 0) {
      detail::for_parts(threads_, parts_, nb_ * ch_, [&](int part, int64_t lo, int64_t hi) {
        float* r = static_cast<float*>(scratch) + static_cast<size_t>(part) * slice_floats_;
        for (int64_t t = lo; t < hi; ++t) {
          const int64_t b = t / ch_, c = t % ch_;
          for (int64_t k = 0; k < lt_; ++k) r[k] = pu[(b * l_ + lt_ - 1 - k) * ch_ + c];
          std::fill(r + lt_, r + lt_ + tail_, 0.0f);
          simd::gemm_lower(*kt_, lt_, n_, lt_, 0, r + lt_ - 1, -1, h_packed_.data(), pm + b * l_ * cn + c * n_, cn);
        }
      });
    }
    if (lt_ == l_ && !mt_) return Status::ok();
    // Recurrence tasks: with one channel the rows are the batch (uniform strides), else a block of
    // channels of one batch.
    const bool fold = ch_ == 1;
    const int64_t rows_total = fold ? nb_ : ch_;
    const int64_t blocks = (rows_total + kChannelBlock - 1) / kChannelBlock;
    const int64_t tasks = fold ? blocks : nb_ * blocks;
    detail::for_parts(threads_, parts_, tasks, [&](int part, int64_t lo, int64_t hi) {
      float* buf0 = static_cast<float*>(scratch) + static_cast<size_t>(part) * slice_floats_;
      float* buf1 = buf0 + kChannelBlock * n_;
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t b = fold ? 0 : task / blocks, r0 = (task % blocks) * kChannelBlock;
        const int64_t rows = std::min(kChannelBlock, rows_total - r0);
        // Row r of step t: batch/channel (b0 + r, 0) when folded, else (b, r0 + r).
        const int64_t m_rs = fold ? l_ * n_ : n_, u_rs = fold ? l_ : 1;
        auto m_row0 = [&](int64_t t) { return fold ? (r0 * l_ + t) * n_ : (b * l_ + t) * cn + r0 * n_; };
        auto u_row0 = [&](int64_t t) { return fold ? r0 * l_ + t : (b * l_ + t) * ch_ + r0; };
        const int64_t state0 = fold ? r0 * n_ : (b * ch_ + r0) * n_;  // in m0 / mT, rows n apart
        const float* prev;
        int64_t prev_rs;
        if (lt_ > 0) {
          prev = pm + m_row0(lt_ - 1);
          prev_rs = m_rs;
        } else {
          if (m0_) std::memcpy(buf0, m0_->as<float>() + state0, static_cast<size_t>(rows * n_) * sizeof(float));
          else std::fill(buf0, buf0 + rows * n_, 0.0f);
          prev = buf0;
          prev_rs = n_;
        }
        for (int64_t t = lt_; t < l_; ++t) {
          float* next;
          int64_t next_rs;
          if (pm) {
            next = pm + m_row0(t);
            next_rs = m_rs;
          } else {
            next = prev == buf0 ? buf1 : buf0;
            next_rs = n_;
          }
          const float* ut = pu + u_row0(t);
          for (int64_t r = 0; r < rows; ++r) {
            const float ur = ut[r * u_rs];
            float* nr = next + r * next_rs;
            for (int64_t i = 0; i < n_; ++i) nr[i] = ur * bvec_[static_cast<size_t>(i)];
          }
          simd::gemm(*kt_, rows, n_, n_, prev, prev_rs, at_packed_.data(), next, next_rs, true);
          prev = next;
          prev_rs = next_rs;
        }
        if (mt_)
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(mt_->as<float>() + state0 + r * n_, prev + r * prev_rs, static_cast<size_t>(n_) * sizeof(float));
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override { return static_cast<size_t>(parts_) * slice_floats_ * sizeof(float); }

  const simd::Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *u_ = nullptr, *m0_ = nullptr, *m_ = nullptr, *mt_ = nullptr;
  int64_t nb_ = 0, l_ = 0, ch_ = 0, n_ = 0, lt_ = 0, tail_ = 0;
  size_t slice_floats_ = 0;
  std::vector<float> at_packed_, h_packed_, bvec_;
};

}  // namespace

KernelResult create_lmu(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                        std::span<const uint8_t> is_constant) {
  const TensorRef* u = detail::at(in, 0);
  const TensorRef* a = detail::at(in, 1);
  const TensorRef* bv = detail::at(in, 2);
  auto constant = [&](size_t i) {
    return i < node.inputs.size() && node.inputs[i] >= 0 && static_cast<size_t>(node.inputs[i]) < is_constant.size() &&
           is_constant[static_cast<size_t>(node.inputs[i])];
  };
  auto k = std::make_unique<LmuKernel>();
  k->m0_ = detail::at(in, 3);
  k->m_ = detail::at(out, 0);
  k->mt_ = detail::at(out, 1);
  if (!u || !a || !bv || (!k->m_ && !k->mt_) || !constant(1) || !constant(2) || !a->data || !bv->data ||
      !detail::all_f32({u, a, bv, k->m0_, k->m_, k->mt_}) || u->shape.rank != 3 || a->shape.rank != 2)
    return std::unique_ptr<CpuKernel>();
  k->u_ = u;
  k->nb_ = u->shape[0];
  k->l_ = u->shape[1];
  k->ch_ = u->shape[2];
  k->n_ = a->shape[0];
  const int64_t n = k->n_;
  if (k->nb_ * k->l_ * k->ch_ * n == 0) return std::unique_ptr<CpuKernel>();
  k->kt_ = &simd::kernels();
  k->threads_ = ctx.threads;
  k->parts_ = detail::thread_count(ctx);
  const float* pa = a->as<float>();
  const float* pb = bv->as<float>();
  k->bvec_.assign(pb, pb + n);
  // A^T as the GEMM's B operand: element (j, i) = A[i, j].
  k->at_packed_.resize(simd::packed_b_floats(*k->kt_, n, n));
  simd::pack_b(*k->kt_, n, n, pa, 1, n, k->at_packed_.data());
  if (!k->m0_ && k->m_) {
    k->lt_ = std::min(k->l_, 2 * n);
    // Impulse response H[j] = A^j B, j < Lt: row j = row j-1 times A^T, one GEMM row per step
    // over the packed A^T (Lt n^2 multiply-adds at prepare, vectorized).
    std::vector<float> h(static_cast<size_t>(k->lt_ * n));
    std::copy(pb, pb + n, h.begin());
    for (int64_t t = 1; t < k->lt_; ++t)
      simd::gemm(*k->kt_, 1, n, n, h.data() + (t - 1) * n, n, k->at_packed_.data(), h.data() + t * n, n, false);
    k->h_packed_.resize(simd::packed_b_floats(*k->kt_, k->lt_, n));
    simd::pack_b(*k->kt_, k->lt_, n, h.data(), n, 1, k->h_packed_.data());
    k->tail_ = k->kt_->gemm_mr;
  }
  const size_t toeplitz = static_cast<size_t>(k->lt_ + k->tail_);
  const size_t recur = static_cast<size_t>(2 * kChannelBlock * n);
  k->slice_floats_ = detail::round_up_floats(std::max(toeplitz, recur));
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
