// Elementwise int8 ops on the CPU, bit-exact with the reference (backends/reference/ops/quant_q8.cpp,
// binary_q8.cpp): QuantizeLinear / DequantizeLinear per tensor (the edges of an int8 plan's float
// islands; vectorized in simd/q8_<isa>.cpp), and Add / Sub / Mul / Relu / Clip / Activation /
// Sigmoid / Tanh / HardSwish / HardSigmoid on int8.
//
// Binary ops compute the reference's arithmetic: on AVX-512 in registers, 16 lanes at a time
// (Q8Kernels::binary_row), elsewhere from per-byte operand tables and a vectorized requantization
// (BinaryKernel below); each unary op is a 256-entry table (Relu / Clip: the reference's requantize;
// SiLU, GELU, ...: ref::activation_table_q8): exact by construction, one load per element.
// Broadcasting: equal shapes and a scalar operand are flat loops, anything else walks the
// reference's broadcast iterator.
#include <algorithm>
#include <array>
#include <vector>

#include "cpu/ops/q8_ops.h"
#include "reference/ops/q8_util.h"
#include "reference/ops/util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TERN_Q8_LUT_VBMI 1
#endif

namespace tern::cpu {

namespace {

constexpr int64_t kParallelElems = 1 << 16;  // elements below which one thread does it all

bool per_tensor_q8(const TensorRef* t) {
  return ref::has_quant(t) && t->quant->count == 1 && t->quant->zero_point[0] >= quant::kQMin &&
         t->quant->zero_point[0] <= quant::kQMax;
}

int parts_for(const Context& ctx, int64_t n) { return n >= kParallelElems ? detail::thread_count(ctx) : 1; }

// QuantizeLinear (float -> int8) and DequantizeLinear (int8 -> float): one element-wise loop over
// the Q8Kernels entry `Fn`, split across threads for large tensors.
template <typename In, typename Out, void (*simd::Q8Kernels::*Fn)(const In*, Out*, int64_t, float, int32_t)>
class ConvertKernel final : public CpuKernel {
 public:
  Status run(void*) override {
    const In* x = x_->as<In>();
    Out* y = y_->as<Out>();
    detail::for_parts(threads_, parts_, n_, [&](int, int64_t lo, int64_t hi) { (kt_->*Fn)(x + lo, y + lo, hi - lo, scale_, zp_); });
    return Status::ok();
  }
  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  int64_t n_ = 0;
  float scale_ = 1;
  int32_t zp_ = 0;
};
using QuantizeKernel = ConvertKernel<float, int8_t, &simd::Q8Kernels::quantize>;
using DequantizeKernel = ConvertKernel<int8_t, float, &simd::Q8Kernels::dequantize>;

// Add / Sub / Mul on int8, bit-exact with ref::BinaryQ8. Add/Sub: y = requantize(la[a] + lb[b])
// with la / lb the reference's rescaled operands per input byte (BinaryQ8::lhs / rhs, negated for
// Sub: va + (-vb) is the reference's va - vb exactly); Mul: y = requantize((a - z_a)(b - z_b)).
// The int32 sums go through a 256-element stack block into the vectorized requant_row of the int8
// kernel table. Rows: equal shapes and scalars are one flat row; a broadcast whose smaller operand
// is constant over runs of the output's innermost elements (x * scale[C,1,1], x + bias[C,1,1]) is
// one row per run with a scalar operand; a smaller operand that repeats along the output's
// innermost elements (x * scale[C] on a channels-last [N, H, W, C] tensor) is tiled once at prepare
// to about 256 elements and paired with consecutive blocks of the full operand; any other broadcast
// walks the reference's broadcast iterator over a 256 x 256 table of results.
class BinaryKernel final : public CpuKernel {
 public:
  Status run(void*) override {
    const int8_t* a = a_->as<int8_t>();
    const int8_t* b = b_->as<int8_t>();
    int8_t* y = y_->as<int8_t>();
    switch (form_) {
      case Form::Same:
        detail::for_parts(threads_, parts_, n_, [&](int, int64_t lo, int64_t hi) { row(a + lo, 1, b + lo, 1, y + lo, hi - lo); });
        break;
      case Form::ScalarB:
        detail::for_parts(threads_, parts_, n_, [&](int, int64_t lo, int64_t hi) { row(a + lo, 1, b, 0, y + lo, hi - lo); });
        break;
      case Form::ScalarA:
        detail::for_parts(threads_, parts_, n_, [&](int, int64_t lo, int64_t hi) { row(a, 0, b + lo, 1, y + lo, hi - lo); });
        break;
      case Form::RowsScalarB:  // a full, b one value per run of `run_` output elements
        detail::for_parts(threads_, parts_, static_cast<int64_t>(row_off_.size()), [&](int, int64_t lo, int64_t hi) {
          for (int64_t r = lo; r < hi; ++r) row(a + r * run_, 1, b + row_off_[static_cast<size_t>(r)], 0, y + r * run_, run_);
        });
        break;
      case Form::RowsScalarA:
        detail::for_parts(threads_, parts_, static_cast<int64_t>(row_off_.size()), [&](int, int64_t lo, int64_t hi) {
          for (int64_t r = lo; r < hi; ++r) row(a + row_off_[static_cast<size_t>(r)], 0, b + r * run_, 1, y + r * run_, run_);
        });
        break;
      case Form::TileB:  // a full, b a period of the output's innermost elements (tile_: repeated)
      case Form::TileA: {
        const int64_t t = static_cast<int64_t>(tile_.size()), chunks = (n_ + t - 1) / t;
        detail::for_parts(threads_, parts_, chunks, [&](int, int64_t lo, int64_t hi) {
          for (int64_t c = lo; c < hi; ++c) {
            const int64_t o = c * t, m = std::min(t, n_ - o);
            if (form_ == Form::TileB) row(a + o, 1, tile_.data(), 1, y + o, m);
            else row(tile_.data(), 1, b + o, 1, y + o, m);
          }
        });
        break;
      }
      case Form::Broadcast: {
        const int8_t* t = table_.data();
        const Shape* ins[2] = {&a_->shape, &b_->shape};
        ref::for_each_broadcast<2>(y_->shape, ins, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
          y[o] = t[static_cast<uint8_t>(a[ia]) * 256 + static_cast<uint8_t>(b[ib])];
        });
        break;
      }
    }
    return Status::ok();
  }

  // n outputs from a[i * sa], b[i * sb] (steps 0 or 1).
  void row(const int8_t* a, int64_t sa, const int8_t* b, int64_t sb, int8_t* y, int64_t n) const {
    if (kt_->binary_row) {
      kt_->binary_row(a, sa, b, sb, y, n, arith_);
      return;
    }
    constexpr int64_t kBlock = 256;
    int32_t acc[kBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t m = std::min(kBlock, n - i0);
      const int8_t* ap = a + i0 * sa;
      const int8_t* bp = b + i0 * sb;
      if (mul_) {
        for (int64_t i = 0; i < m; ++i) acc[i] = (static_cast<int32_t>(ap[i * sa]) - z_a_) * (static_cast<int32_t>(bp[i * sb]) - z_b_);
      } else {
        for (int64_t i = 0; i < m; ++i) acc[i] = la_[static_cast<uint8_t>(ap[i * sa])] + lb_[static_cast<uint8_t>(bp[i * sb])];
      }
      kt_->requant_row(acc, y + i0, m, mult_, rsh_, z_y_, quant::kQMin, quant::kQMax);
    }
  }

  enum class Form { Same, ScalarA, ScalarB, RowsScalarA, RowsScalarB, TileA, TileB, Broadcast };
  Form form_ = Form::Same;
  const simd::Q8Kernels* kt_ = nullptr;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *a_ = nullptr, *b_ = nullptr, *y_ = nullptr;
  int64_t n_ = 0;
  bool mul_ = false;
  int32_t z_a_ = 0, z_b_ = 0, z_y_ = 0, mult_ = 0, rsh_ = 0;
  simd::Q8BinaryRow arith_;  // the same arithmetic for Q8Kernels::binary_row
  int32_t la_[256] = {}, lb_[256] = {};  // Add/Sub: rescaled operands (int32: |(q - z) 2^20 m| < 2^29)
  int64_t run_ = 0;                     // Rows forms: output elements per row
  std::vector<int64_t> row_off_;        // Rows forms: the broadcast operand's offset per row
  std::vector<int8_t> tile_;            // Tile forms: the broadcast operand repeated (a multiple of its period)
  std::vector<int8_t> table_;           // Broadcast form: [a byte][b byte]
};

// For y = a (op) b where `bc` broadcasts: true when bc, leading 1s dropped, is y's trailing dims
// (it repeats with period bc.numel() along y's flat order); `tile` then gets bc's bytes repeated to
// a multiple of the period of at least 256 elements (one block of BinaryKernel::row).
bool broadcast_tile(const Shape& y, const TensorRef& bc, std::vector<int8_t>* tile) {
  int lead = 0;
  while (lead < bc.shape.rank && bc.shape.dims[lead] == 1) ++lead;
  const int k = bc.shape.rank - lead;
  if (k == 0 || k > y.rank) return false;
  for (int i = 0; i < k; ++i)
    if (bc.shape.dims[lead + i] != y.dims[y.rank - k + i]) return false;
  const int64_t period = bc.shape.numel();
  if (period < 4 || !bc.data) return false;  // tiny periods: the broadcast table is as good
  const int64_t reps = std::max<int64_t>(1, 256 / period);
  tile->resize(static_cast<size_t>(period * reps));
  for (int64_t r = 0; r < reps; ++r)
    std::copy(bc.as<int8_t>(), bc.as<int8_t>() + period, tile->begin() + r * period);
  return true;
}

// For y = a (op) b where `full` has y's shape and `bc` broadcasts: the longest run of innermost
// output elements over which `bc` is one value, and bc's offset at the start of each run. False
// when that run is too short to be worth rows (or bc varies innermost).
bool broadcast_rows(const Shape& y, const Shape& bc, int64_t* run, std::vector<int64_t>* offs) {
  int64_t r = 1;
  for (int d = y.rank - 1, e = bc.rank - 1; d >= 0; --d, --e) {
    const int64_t bd = e >= 0 ? bc.dims[e] : 1;
    if (bd != 1) break;
    r *= y.dims[d];
  }
  if (r < 16 || y.numel() % r) return false;
  *run = r;
  offs->clear();
  offs->reserve(static_cast<size_t>(y.numel() / r));
  const Shape* ins[1] = {&bc};
  ref::for_each_broadcast<1>(y, ins, [&](int64_t o, int64_t ib, int64_t, int64_t) {
    if (o % r == 0) offs->push_back(ib);
  });
  return true;
}

// y[i] = table[uint8(x[i])]: a plain loop, or with AVX-512 VBMI two 128-entry byte permutes per 64
// bytes (vpermi2b on the low 7 bits, the top bit picks the half). The same table either way.
void lut_scalar(const int8_t* x, int8_t* y, int64_t n, const int8_t* table) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[static_cast<uint8_t>(x[i])];
}
#if TERN_Q8_LUT_VBMI
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void lut_vbmi(const int8_t* x, int8_t* y, int64_t n, const int8_t* table) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_loadu_si512(x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1);  // table[v & 127]
    const __m512i hi = _mm512_permutex2var_epi8(t2, v, t3);  // table[128 + (v & 127)]
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
  lut_scalar(x + i, y + i, n - i, table);
}
#endif
using LutFn = void (*)(const int8_t*, int8_t*, int64_t, const int8_t*);
// The vector form only where the int8 kernels run the AVX-512 variant (TERN_CPU_ISA can force a
// narrower one) and the CPU has VBMI.
LutFn lut_for(const simd::Q8Kernels& kt) {
#if TERN_Q8_LUT_VBMI
  if (kt.isa == simd::Isa::Avx512 && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw")) return lut_vbmi;
#else
  (void)kt;
#endif
  return lut_scalar;
}

class UnaryTableKernel final : public CpuKernel {
 public:
  Status run(void*) override {
    const int8_t* x = x_->as<int8_t>();
    int8_t* y = y_->as<int8_t>();
    detail::for_parts(threads_, parts_, n_, [&](int, int64_t lo, int64_t hi) { lut_(x + lo, y + lo, hi - lo, table_.data()); });
    return Status::ok();
  }
  LutFn lut_ = lut_scalar;
  Threads* threads_ = nullptr;
  int parts_ = 1;
  const TensorRef *x_ = nullptr, *y_ = nullptr;
  int64_t n_ = 0;
  std::array<int8_t, 256> table_{};
};

// Quantize / Dequantize kernels: `q`, the int8 side (y or x), gives the scale and zero point.
template <typename K>
KernelResult make_convert(const Context& ctx, const TensorRef* x, const TensorRef* y, const TensorRef* q) {
  auto k = std::make_unique<K>();
  k->kt_ = &simd::q8_kernels();
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  k->n_ = y->numel();
  k->parts_ = parts_for(ctx, k->n_);
  k->scale_ = ref::q_scale(*q);
  k->zp_ = ref::q_zero(*q);
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace

KernelResult create_q8_quantize(const Context& ctx, const NodeView&, TensorSpan in, TensorSpan out,
                                std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !x || !y || x->dtype != DType::Float32 || !per_tensor_q8(y) || x->numel() != y->numel())
    return std::unique_ptr<CpuKernel>();
  return make_convert<QuantizeKernel>(ctx, x, y, y);
}

KernelResult create_q8_dequantize(const Context& ctx, const NodeView&, TensorSpan in, TensorSpan out,
                                  std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !x || !y || y->dtype != DType::Float32 || !per_tensor_q8(x) || x->numel() != y->numel())
    return std::unique_ptr<CpuKernel>();
  return make_convert<DequantizeKernel>(ctx, x, y, x);
}

KernelResult create_q8_binary(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                              std::span<const uint8_t> is_constant) {
  const TensorRef* a = detail::at(in, 0);
  const TensorRef* b = detail::at(in, 1);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !per_tensor_q8(a) || !per_tensor_q8(b) || !per_tensor_q8(y) || y->numel() == 0)
    return std::unique_ptr<CpuKernel>();
  if (node.op != OpType::Add && node.op != OpType::Sub && node.op != OpType::Mul) return std::unique_ptr<CpuKernel>();
  auto k = std::make_unique<BinaryKernel>();
  // The reference's arithmetic, element for element (binary_q8.cpp, ref::BinaryQ8).
  const float s_a = ref::q_scale(*a), s_b = ref::q_scale(*b), s_y = ref::q_scale(*y);
  const int32_t z_a = ref::q_zero(*a), z_b = ref::q_zero(*b), z_y = ref::q_zero(*y);
  const ref::BinaryQ8 f(node.op, s_a, z_a, s_b, z_b, s_y, z_y);
  k->kt_ = &simd::q8_kernels();
  k->mul_ = node.op == OpType::Mul;
  k->z_a_ = z_a;
  k->z_b_ = z_b;
  k->z_y_ = z_y;
  k->mult_ = f.my.mult;
  k->rsh_ = 30 + f.my.shift;
  k->arith_.op = node.op == OpType::Mul ? simd::Q8BinaryRow::kMul : node.op == OpType::Sub ? simd::Q8BinaryRow::kSub
                                                                                          : simd::Q8BinaryRow::kAdd;
  k->arith_.z_a = z_a;
  k->arith_.z_b = z_b;
  k->arith_.mult_a = f.ma.mult;
  k->arith_.rsh_a = 30 + f.ma.shift;
  k->arith_.mult_b = f.mb.mult;
  k->arith_.rsh_b = 30 + f.mb.shift;
  k->arith_.mult = f.my.mult;
  k->arith_.rsh = 30 + f.my.shift;
  k->arith_.z_y = z_y;
  if (!k->mul_)
    for (int v = 0; v < 256; ++v) {
      k->la_[v] = static_cast<int32_t>(f.lhs(static_cast<int8_t>(v)));
      const int64_t rb = f.rhs(static_cast<int8_t>(v));
      k->lb_[v] = static_cast<int32_t>(node.op == OpType::Sub ? -rb : rb);
    }
  k->threads_ = ctx.threads;
  k->a_ = a;
  k->b_ = b;
  k->y_ = y;
  k->n_ = y->numel();
  k->parts_ = parts_for(ctx, k->n_);
  using Form = BinaryKernel::Form;
  // The tile forms copy the repeating operand at prepare: constants only (layer scales, folded
  // BatchNorm on channels-last tensors).
  const bool a_const = detail::input_constant(node, is_constant, 0), b_const = detail::input_constant(node, is_constant, 1);
  if (a->shape == y->shape && b->shape == y->shape) k->form_ = Form::Same;
  else if (a->shape == y->shape && b->numel() == 1) k->form_ = Form::ScalarB;
  else if (b->shape == y->shape && a->numel() == 1) k->form_ = Form::ScalarA;
  else if (a->shape == y->shape && broadcast_rows(y->shape, b->shape, &k->run_, &k->row_off_)) k->form_ = Form::RowsScalarB;
  else if (b->shape == y->shape && broadcast_rows(y->shape, a->shape, &k->run_, &k->row_off_)) k->form_ = Form::RowsScalarA;
  else if (a->shape == y->shape && b_const && broadcast_tile(y->shape, *b, &k->tile_)) k->form_ = Form::TileB;
  else if (b->shape == y->shape && a_const && broadcast_tile(y->shape, *a, &k->tile_)) k->form_ = Form::TileA;
  else k->form_ = Form::Broadcast;
  if (k->form_ == Form::Broadcast) {
    k->table_.resize(256 * 256);
    for (int i = 0; i < 256; ++i)
      for (int j = 0; j < 256; ++j) k->table_[static_cast<size_t>(i * 256 + j)] = f(static_cast<int8_t>(i), static_cast<int8_t>(j));
  }
  return std::unique_ptr<CpuKernel>(std::move(k));
}

KernelResult create_q8_unary(const Context& ctx, const NodeView& node, TensorSpan in, TensorSpan out,
                             std::span<const uint8_t>) {
  const TensorRef* x = detail::at(in, 0);
  const TensorRef* y = detail::at(out, 0);
  if (!q8_kernels_enabled() || !per_tensor_q8(x) || !per_tensor_q8(y) || x->numel() != y->numel())
    return std::unique_ptr<CpuKernel>();
  ref::ActivationParams act;
  auto k = std::make_unique<UnaryTableKernel>();
  const void* ov = node.options ? node.options->value : nullptr;
  if (node.op == OpType::Relu) {
    act.kind = fb::Activation::Relu;
  } else if (node.op == OpType::Clip) {
    if (!ov) return std::unique_ptr<CpuKernel>();
    const auto& o = *static_cast<const fb::ClipOptionsT*>(ov);
    act = {fb::Activation::Clip, o.min, o.max};
  } else {
    // Activation / Sigmoid / Tanh / HardSwish / HardSigmoid: the reference's own table (q8_util.h).
    const auto* ao = node.op == OpType::Activation ? static_cast<const fb::ActivationOptionsT*>(ov) : nullptr;
    const auto* ab = node.op == OpType::HardSigmoid ? static_cast<const fb::AlphaBetaOptionsT*>(ov) : nullptr;
    if (!ref::table_activation(node.op, ao, ab, &act)) return std::unique_ptr<CpuKernel>();
    ref::activation_table_q8(act, ref::q_scale(*x), ref::q_zero(*x), ref::q_scale(*y), ref::q_zero(*y), k->table_.data());
    k->lut_ = lut_for(simd::q8_kernels());
    k->threads_ = ctx.threads;
    k->x_ = x;
    k->y_ = y;
    k->n_ = y->numel();
    k->parts_ = parts_for(ctx, k->n_);
    return std::unique_ptr<CpuKernel>(std::move(k));
  }
  // The reference's arithmetic (binary_q8.cpp unary_q8) for each of the 256 inputs.
  const float s_x = ref::q_scale(*x), s_y = ref::q_scale(*y);
  const int32_t z_x = ref::q_zero(*x), z_y = ref::q_zero(*y);
  int32_t lo, hi;
  ref::q8_activation_bounds(act, s_y, z_y, &lo, &hi);
  const quant::Multiplier m = ref::make_multiplier(s_x, 1.0, s_y);
  for (int i = 0; i < 256; ++i) k->table_[static_cast<size_t>(i)] = quant::requantize(static_cast<int8_t>(i) - z_x, m, z_y, lo, hi);
  k->lut_ = lut_for(simd::q8_kernels());
  k->threads_ = ctx.threads;
  k->x_ = x;
  k->y_ = y;
  k->n_ = y->numel();
  k->parts_ = parts_for(ctx, k->n_);
  return std::unique_ptr<CpuKernel>(std::move(k));
}

}  // namespace tern::cpu
