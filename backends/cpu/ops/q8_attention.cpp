// Attention on int8, bit-exact with the reference (backends/reference/ops/attention_q8.cpp; the
// numerics are reference/ops/attention_q8.h): Q, K, V, Y int8 per tensor, an optional constant
// int32 bias (checked within +-2^29 once, at creation; any other bias goes to the reference).
//
// Both products run on int16 operands (x - z_x: the zero points are subtracted once, when the
// operands are packed, so every sum is the reference's exact int32): first K^T and V of every
// (batch, head) pair are packed in pairs of k (q8.h att_gemm) into scratch; then (pair, block of
// query rows) tasks, split over the threads, each take their rows of Q to int16, S = Q K^T
// (rows x Lk int32), plus the bias rows, the softmax rows to int16 probabilities (the ISA's att_softmax), O = P V
// (rows x Dv int32) and requantize O into Y. The score matrix exists only per row block, and run
// allocates nothing. Where the table has att_qk_u8 (AVX-512 VNNI), Q K^T runs on bytes instead: K
// packed as int8 in groups of 4 with its column term -(128 + z_q) sum_t k_jt, Q as q + 128; the
// scores then differ from S by a per-row constant, which the softmax's d = max - S cancels exactly
// (the bias, added after, does not change that: attention_q8.h bounds both sums).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/attention_q8.h"
#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

namespace tern::cpu {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
constexpr int64_t round_to(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct Triple {
  int64_t y, q, k, v, b;  // matrix index of the output and of each input (broadcast), bias included
};

class Q8AttentionKernel final : public CpuKernel {
 public:
  Status run(void* scratch) override {
    uint8_t* base = static_cast<uint8_t*>(scratch);
    const int8_t* pq = q_->as<int8_t>();
    const int8_t* pk = k_->as<int8_t>();
    const int8_t* pv = v_->as<int8_t>();
    int8_t* py = y_->as<int8_t>();
    const int32_t* pb = b_ ? b_->as<int32_t>() : nullptr;
    const int64_t nkv = static_cast<int64_t>(kv_.size());
    // Phase 1: every distinct (K, V) pair, packed: K^T as [Dp / 2][Lkp][2], V as [Lk2 / 2][Dvp][2].
    detail::for_parts(threads_, parts_, nkv, [&](int, int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        int16_t* kp = reinterpret_cast<int16_t*>(base + static_cast<size_t>(o) * kv_bytes_);
        int16_t* vp = reinterpret_cast<int16_t*>(base + static_cast<size_t>(o) * kv_bytes_ + kpack_bytes_);
        const int8_t* km = pk + kv_[static_cast<size_t>(o)].first * lk_ * d_;
        const int8_t* vm = pv + kv_[static_cast<size_t>(o)].second * lk_ * dv_;
        std::memset(kp, 0, kpack_bytes_);
        std::memset(vp, 0, vpack_bytes_);
        if (qk_u8_) {  // [dq / 4][lkp][4] bytes, then lkp column terms
          int8_t* k8 = reinterpret_cast<int8_t*>(kp);
          int32_t* col = reinterpret_cast<int32_t*>(k8 + k8_bytes_);
          if (k_ts_ == 1) {  // K [Lk, D]: 4-byte runs of a key row
            for (int64_t j = 0; j < lk_; ++j) {
              const int8_t* kr = km + j * d_;
              int64_t t = 0;
              for (; t + 4 <= d_; t += 4) std::memcpy(k8 + ((t >> 2) * lkp_ + j) * 4, kr + t, 4);
              for (; t < d_; ++t) k8[((t >> 2) * lkp_ + j) * 4 + (t & 3)] = kr[t];
            }
          } else {  // K [D, Lk]: four depth rows interleaved
            for (int64_t t = 0; t < d_; ++t) {
              const int8_t* kr = km + t * lk_;
              int8_t* dst = k8 + (t >> 2) * lkp_ * 4 + (t & 3);
              for (int64_t j = 0; j < lk_; ++j) dst[j * 4] = kr[j];
            }
          }
          std::fill(col, col + lkp_, 0);
          for (int64_t t = 0; t < d_; ++t) {
            const int8_t* kr = km + t * k_ts_;
            for (int64_t j = 0; j < lk_; ++j) col[j] += kr[j * k_js_];
          }
          for (int64_t j = 0; j < lk_; ++j) col[j] *= -(128 + z_q_);
        } else if (k_ts_ == 1) {  // K [Lk, D] - z_k as int16 pairs
          for (int64_t j = 0; j < lk_; ++j)
            for (int64_t t = 0; t < d_; ++t)
              kp[((t >> 1) * lkp_ + j) * 2 + (t & 1)] = static_cast<int16_t>(km[j * d_ + t] - z_k_);
        } else {  // K [D, Lk]: two depth rows interleaved
          for (int64_t t = 0; t < d_; t += 2) {
            const int8_t* r0 = km + t * lk_;
            const int8_t* r1 = t + 1 < d_ ? r0 + lk_ : nullptr;
            int16_t* dst = kp + (t >> 1) * lkp_ * 2;
            for (int64_t j = 0; j < lk_; ++j) {
              dst[2 * j] = static_cast<int16_t>(r0[j] - z_k_);
              dst[2 * j + 1] = r1 ? static_cast<int16_t>(r1[j] - z_k_) : int16_t{0};
            }
          }
        }
        // V - z_v: two key rows interleaved per pair (a lone last row pairs with zeros).
        for (int64_t j = 0; j < lk_; j += 2) {
          const int8_t* r0 = vm + j * dv_;
          int16_t* dst = vp + (j >> 1) * dvp_ * 2;
          if (j + 1 < lk_) {
            const int8_t* r1 = r0 + dv_;
            for (int64_t c = 0; c < dv_; ++c) {
              dst[2 * c] = static_cast<int16_t>(r0[c] - z_v_);
              dst[2 * c + 1] = static_cast<int16_t>(r1[c] - z_v_);
            }
          } else {
            for (int64_t c = 0; c < dv_; ++c) dst[2 * c] = static_cast<int16_t>(r0[c] - z_v_);
          }
        }
      }
    });
    // Phase 2: (triple, row block) tasks.
    uint8_t* work = base + static_cast<size_t>(nkv) * kv_bytes_;
    const int64_t nblk = (lq_ + block_rows_ - 1) / block_rows_;
    detail::for_parts(threads_, parts_, static_cast<int64_t>(triples_.size()) * nblk, [&](int part, int64_t lo, int64_t hi) {
      uint8_t* w = work + static_cast<size_t>(part) * part_bytes_;
      int16_t* q16 = reinterpret_cast<int16_t*>(w);
      int16_t* p16 = reinterpret_cast<int16_t*>(w + q16_bytes_);
      int32_t* s32 = reinterpret_cast<int32_t*>(w + q16_bytes_ + p16_bytes_);  // scores, then O
      for (int64_t task = lo; task < hi; ++task) {
        const Triple& tr = triples_[static_cast<size_t>(task / nblk)];
        const int64_t r0 = (task % nblk) * block_rows_, rows = std::min(block_rows_, lq_ - r0);
        const int64_t rows_p = round_to(rows, simd::kAttRows);
        const int64_t o = kv_index_[static_cast<size_t>(task / nblk)];
        const int16_t* kp = reinterpret_cast<const int16_t*>(base + static_cast<size_t>(o) * kv_bytes_);
        const int16_t* vp = reinterpret_cast<const int16_t*>(base + static_cast<size_t>(o) * kv_bytes_ + kpack_bytes_);
        const int8_t* qm = pq + (tr.q * lq_ + r0) * d_;
        if (qk_u8_) {
          // Q rows + 128 as bytes [rows_p][dq] (the padding meets K's zero padding).
          uint8_t* q8 = reinterpret_cast<uint8_t*>(q16);
          for (int64_t i = 0; i < rows; ++i) {
            kt_->copy_u8(reinterpret_cast<int8_t*>(q8 + i * dq_), qm + i * d_, d_);
            std::fill(q8 + i * dq_ + d_, q8 + (i + 1) * dq_, uint8_t{0});
          }
          std::fill(q8 + rows * dq_, q8 + rows_p * dq_, uint8_t{0});
          const int8_t* k8 = reinterpret_cast<const int8_t*>(kp);
          kt_->att_qk_u8(rows_p, lkp_, dq_ / 4, q8, dq_, k8, reinterpret_cast<const int32_t*>(k8 + k8_bytes_), s32, lkp_);
        } else {
          // Q rows - z_q as int16 [rows_p][dp], zero padded.
          for (int64_t i = 0; i < rows; ++i) {
            int16_t* qr = q16 + i * dp_;
            for (int64_t t = 0; t < d_; ++t) qr[t] = static_cast<int16_t>(qm[i * d_ + t] - z_q_);
            if (dp_ > d_) qr[d_] = 0;
          }
          std::fill(q16 + rows * dp_, q16 + rows_p * dp_, int16_t{0});
          kt_->att_gemm(rows_p, lkp_, dp_ / 2, q16, dp_, kp, s32, lkp_);
        }
        if (pb) {  // S' = S + B (exact: attention_q8.h)
          const int32_t* bm = pb + tr.b * b_rows_ * b_cols_ + r0 * b_is_;
          for (int64_t i = 0; i < rows; ++i) {
            int32_t* sr = s32 + i * lkp_;
            const int32_t* br = bm + i * b_is_;
            if (b_js_ == 1)
              for (int64_t j = 0; j < lk_; ++j) sr[j] += br[j];
            else
              for (int64_t j = 0; j < lk_; ++j) sr[j] += br[0];
          }
        }
        for (int64_t i = 0; i < rows; ++i) {
          int16_t* pr = p16 + i * lk2_;
          kt_->att_softmax(s32 + i * lkp_, lk_, c256_, s32 + i * lkp_, pr);
          if (lk2_ > lk_) pr[lk_] = 0;
        }
        std::fill(p16 + rows * lk2_, p16 + rows_p * lk2_, int16_t{0});
        kt_->att_gemm(rows_p, dvp_, lk2_ / 2, p16, lk2_, vp, s32, dvp_);
        int8_t* ym = py + (tr.y * lq_ + r0) * dv_;
        for (int64_t i = 0; i < rows; ++i)
          kt_->requant_row(s32 + i * dvp_, ym + i * dv_, dv_, mult_, rsh_, z_y_, quant::kQMin, quant::kQMax);
      }
    });
    return Status::ok();
  }
  size_t scratch_bytes() const override { return kv_.size() * kv_bytes_ + static_cast<size_t>(parts_) * part_bytes_; }

  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *y_ = nullptr, *b_ = nullptr;
  int64_t b_rows_ = 1, b_cols_ = 1, b_is_ = 0, b_js_ = 0;  // the bias's matrices and strides (reference attention_q8.cpp)
  int64_t lq_ = 0, lk_ = 0, d_ = 0, dv_ = 0, k_js_ = 0, k_ts_ = 0;
  int64_t dp_ = 0, dq_ = 0, lk2_ = 0, lkp_ = 0, dvp_ = 0, block_rows_ = 0;
  bool qk_u8_ = false;
  size_t k8_bytes_ = 0;
  int32_t z_q_ = 0, z_k_ = 0, z_v_ = 0, z_y_ = 0, mult_ = 0, rsh_ = 0;
  float c256_ = 0;
  size_t kpack_bytes_ = 0, vpack_bytes_ = 0, kv_bytes_ = 0, q16_bytes_ = 0, p16_bytes_ = 0, part_bytes_ = 0;
  std::vector<Triple> triples_;
  std::vector<std::pair<int64_t, int64_t>> kv_;  // distinct (K matrix, V matrix)
  std::vector<int64_t> kv_index_;                 // per triple: its entry of kv_
};

}  // namespace

KernelResult create_q8_attention(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                                 std::span<const uint8_t> is_constant) {
  const TensorRef* q = detail::at(in, 0);
  const TensorRef* k = detail::at(in, 1);
  const TensorRef* v = detail::at(in, 2);
  const TensorRef* y = detail::at(out, 0);
  const TensorRef* bias = detail::at(in, 3);
  // Anything the reference would refuse (or reports an error for) goes to it.
  if (!q8_kernels_enabled() || !q || !k || !v || !y || !node.options || !node.options->value) return std::unique_ptr<CpuKernel>();
  if (bias) {  // a constant int32 one within +-2^29, checked here once (the reference checks every run)
    if (bias->dtype != DType::Int32 || !detail::input_constant(node, is_constant, 3) || !bias->data)
      return std::unique_ptr<CpuKernel>();
    const int32_t* pb = bias->as<int32_t>();
    for (int64_t i = 0, n = bias->numel(); i < n; ++i)
      if (pb[i] < -ref::attq8::kMaxBias || pb[i] > ref::attq8::kMaxBias) return std::unique_ptr<CpuKernel>();
  }
  for (const TensorRef* t : {q, k, v, y}) {
    if (!ref::has_quant(t) || t->quant->count != 1 || t->quant->zero_point[0] < quant::kQMin ||
        t->quant->zero_point[0] > quant::kQMax)
      return std::unique_ptr<CpuKernel>();
  }
  const auto& o = *static_cast<const fb::AttentionOptionsT*>(node.options->value);
  const Shape &sq = q->shape, &sk = k->shape, &sv = v->shape, &sy = y->shape;
  if (sq.rank < 2 || sk.rank < 2 || sv.rank < 2 || sy.rank < 2) return std::unique_ptr<CpuKernel>();
  auto kern = std::make_unique<Q8AttentionKernel>();
  Q8AttentionKernel& a = *kern;
  a.lq_ = sq[sq.rank - 2];
  a.d_ = sq[sq.rank - 1];
  a.lk_ = o.k_transposed ? sk[sk.rank - 1] : sk[sk.rank - 2];
  a.dv_ = sv[sv.rank - 1];
  const int64_t dk = o.k_transposed ? sk[sk.rank - 2] : sk[sk.rank - 1];
  if (dk != a.d_ || sv[sv.rank - 2] != a.lk_ || sy[sy.rank - 2] != a.lq_ || sy[sy.rank - 1] != a.dv_)
    return std::unique_ptr<CpuKernel>();
  if (y->numel() == 0 || a.lk_ == 0 || a.d_ == 0 || a.d_ > ref::attq8::kMaxDepth || a.lk_ > ref::attq8::kMaxKeys ||
      (bias && a.d_ > ref::attq8::kMaxBiasedDepth))
    return std::unique_ptr<CpuKernel>();
  if (!ref::attq8::logit_step(ref::q_scale(*q), ref::q_scale(*k), o.scale, &a.c256_)) return std::unique_ptr<CpuKernel>();
  a.k_js_ = o.k_transposed ? 1 : a.d_;
  a.k_ts_ = o.k_transposed ? a.lk_ : 1;
  a.z_q_ = ref::q_zero(*q);
  a.z_k_ = ref::q_zero(*k);
  a.z_v_ = ref::q_zero(*v);
  a.z_y_ = ref::q_zero(*y);
  const quant::Multiplier m = ref::make_multiplier(1.0 / ref::attq8::kProbMax, ref::q_scale(*v), ref::q_scale(*y));
  a.mult_ = m.mult;
  a.rsh_ = 30 + m.shift;

  // Batch dims: the reference's broadcast walk, and the distinct (K, V) matrices it meets.
  const Shape bq = ref::batch_dims(sq), bk = ref::batch_dims(sk), bv = ref::batch_dims(sv), batch = ref::batch_dims(sy);
  const Shape bb = bias ? ref::batch_dims(bias->shape) : Shape{};
  if (bias) {
    const Shape& bs = bias->shape;
    a.b_rows_ = bs.rank >= 2 ? bs[bs.rank - 2] : 1;
    a.b_cols_ = bs.rank >= 1 ? bs[bs.rank - 1] : 1;
    if ((a.b_rows_ != 1 && a.b_rows_ != a.lq_) || (a.b_cols_ != 1 && a.b_cols_ != a.lk_)) return std::unique_ptr<CpuKernel>();
    a.b_is_ = a.b_rows_ == 1 ? 0 : a.b_cols_;
    a.b_js_ = a.b_cols_ == 1 ? 0 : 1;
    a.b_ = bias;
  }
  const Shape* ins[4] = {&bq, &bk, &bv, &bb};
  ref::for_each_broadcast<4>(batch, ins, [&](int64_t ob, int64_t iq, int64_t ik, int64_t iv, int64_t ib) {
    a.triples_.push_back({ob, iq, ik, iv, ib});
    const std::pair<int64_t, int64_t> kv{ik, iv};
    auto it = std::find(a.kv_.begin(), a.kv_.end(), kv);
    if (it == a.kv_.end()) it = a.kv_.insert(a.kv_.end(), kv);
    a.kv_index_.push_back(it - a.kv_.begin());
  });
  if (a.triples_.empty()) return std::unique_ptr<CpuKernel>();

  a.kt_ = &simd::q8_kernels();
  a.threads_ = ctx.threads;
  a.q_ = q;
  a.k_ = k;
  a.v_ = v;
  a.y_ = y;
  a.dp_ = round_to(a.d_, 2);
  a.dq_ = round_to(a.d_, 4);
  a.qk_u8_ = a.kt_->att_qk_u8 != nullptr;
  a.lk2_ = round_to(a.lk_, 2);
  a.lkp_ = round_to(a.lk_, simd::kAttCols);
  a.dvp_ = round_to(a.dv_, simd::kAttCols);
  // Rows per block: the block's scores (rows x Lkp int32) within ~64 KiB, whole att_gemm tiles.
  int64_t rows = std::max<int64_t>(1, (64 * 1024 / 4) / a.lkp_);
  rows = std::max(simd::kAttRows, rows / simd::kAttRows * simd::kAttRows);
  a.block_rows_ = std::min(rows, round_to(a.lq_, simd::kAttRows));
  a.k8_bytes_ = round_up(static_cast<size_t>(a.dq_ * a.lkp_));
  a.kpack_bytes_ = a.qk_u8_ ? a.k8_bytes_ + round_up(static_cast<size_t>(a.lkp_) * 4)
                            : round_up(static_cast<size_t>(a.dp_ * a.lkp_) * 2);
  a.vpack_bytes_ = round_up(static_cast<size_t>(a.lk2_ * a.dvp_) * 2);
  a.kv_bytes_ = a.kpack_bytes_ + a.vpack_bytes_;
  a.q16_bytes_ = round_up(static_cast<size_t>(a.block_rows_ * std::max(a.dp_ * 2, a.dq_)));
  a.p16_bytes_ = round_up(static_cast<size_t>(a.block_rows_ * a.lk2_) * 2);
  a.part_bytes_ = a.q16_bytes_ + a.p16_bytes_ + round_up(static_cast<size_t>(a.block_rows_ * std::max(a.lkp_, a.dvp_)) * 4);
  const double work = 2.0 * static_cast<double>(a.triples_.size()) * static_cast<double>(a.lq_ * a.lk_) *
                      static_cast<double>(a.d_ + a.dv_);
  a.parts_ = detail::parts_for_work(ctx, work);
  return std::unique_ptr<CpuKernel>(std::move(kern));
}

}  // namespace tern::cpu
