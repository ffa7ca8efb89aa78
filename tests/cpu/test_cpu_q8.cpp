// The CPU backend's int8 kernels (backends/cpu/ops/q8_*.cpp over backends/cpu/simd/q8*.cpp) must be
// BIT-EXACT with the reference int8 kernels (backends/reference/ops/*_q8.cpp).
//
// Two levels: (1) every int8 micro-kernel variant this machine can run (scalar, AVX2, AVX-512 VNNI;
// NEON, NEON SDOT), called directly through q8_gemm against the scheme's formula with
// quant::requantize, over random odd shapes, extreme operands, nonzero zero points, per-column
// multipliers (including r >= 1, where the saturation matters) and narrowed bounds; (2) int8 Conv /
// Gemm / MatMul nodes through cpu::create_kernel (the CPU backend's table, with the variant CTest
// forces through TERN_CPU_ISA) against ref::run_node_once on the same tensors, with 1 and 3 threads.
// Each case also checks that the CPU table really claims the node (else the reference would be
// compared with itself).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/quant.h"
#include "cpu/cpu_kernel.h"
#include "cpu/simd/q8.h"
#include "reference/ops/q8_util.h"
#include "support/harness.h"
#include "support/q8_tensors.h"
#include "reference/kernel.h"
#include "reference/ops/attention_q8.h"

using namespace tern;
using namespace tern::test::q8;

namespace {

// ---- (1) micro-kernels --------------------------------------------------------------------------

std::vector<const cpu::simd::Q8Kernels*> variants() {
  std::vector<const cpu::simd::Q8Kernels*> v;
  const cpu::simd::Q8Kernels* all[8];
  const int n = cpu::simd::q8_variants(all, 8);
  for (int i = 0; i < n; ++i) v.push_back(all[i]);
  return v;
}

void check_gemm_variant(const cpu::simd::Q8Kernels& kt, std::mt19937& rng, int64_t m, int64_t n, int64_t k, bool a_trans,
                        bool y_trans, bool with_zb, bool extreme, bool big_r) {
  CAPTURE(kt.name);
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(a_trans);
  CAPTURE(y_trans);
  CAPTURE(with_zb);
  CAPTURE(extreme);
  CAPTURE(big_r);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
  for (auto& v : a) v = static_cast<int8_t>(extreme ? (rng() % 2 ? -128 : 127) : byte(rng));
  for (auto& v : b) v = static_cast<int8_t>(extreme ? (rng() % 2 ? -128 : 127) : byte(rng));
  const int32_t z_a = extreme ? 127 : byte(rng), z_y = byte(rng) / 2;
  std::vector<int32_t> bias(static_cast<size_t>(n)), zb(static_cast<size_t>(n), 0);
  std::vector<quant::Multiplier> mul(static_cast<size_t>(n));
  std::uniform_real_distribution<double> lr(big_r ? -3.0 : -22.0, big_r ? 3.0 : -6.0);
  for (int64_t j = 0; j < n; ++j) {
    bias[static_cast<size_t>(j)] = static_cast<int32_t>(rng() % 200001) - 100000;
    if (with_zb) zb[static_cast<size_t>(j)] = byte(rng);
    quant::quantize_multiplier(std::exp2(lr(rng)), &mul[static_cast<size_t>(j)]);
  }
  if (n > 2) quant::quantize_multiplier(0.0, &mul[1]);  // a zero multiplier: every result is z_y
  const int32_t lo = y_trans ? -100 : -128, hi = y_trans ? 90 : 127;
  // A element (i, kk): row-major, or transposed as a conv's im2col [k, m].
  const int64_t a_rs = a_trans ? 1 : k, a_cs = a_trans ? m : 1;
  std::vector<int8_t> want(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int32_t acc = bias[static_cast<size_t>(j)];
      for (int64_t kk = 0; kk < k; ++kk)
        acc += (a[static_cast<size_t>(i * a_rs + kk * a_cs)] - z_a) * (b[static_cast<size_t>(kk * n + j)] - zb[static_cast<size_t>(j)]);
      want[static_cast<size_t>(i * n + j)] = quant::requantize(acc, mul[static_cast<size_t>(j)], z_y, lo, hi);
    }
  // Packed as the CPU kernels do.
  const int64_t npad = cpu::simd::q8_panels(kt, n) * kt.nr;
  std::vector<uint8_t> bp(cpu::simd::q8_packed_b_bytes(kt, k, n) + 64);
  std::vector<int32_t> col_off(static_cast<size_t>(npad), 0), mult(static_cast<size_t>(npad), 0), rsh(static_cast<size_t>(npad), 0),
      zbp(static_cast<size_t>(npad), 0);
  cpu::simd::q8_pack_b(kt, k, n, b.data(), n, 1, bp.data(), col_off.data());
  for (int64_t j = 0; j < n; ++j) zbp[static_cast<size_t>(j)] = zb[static_cast<size_t>(j)];
  cpu::simd::q8_col_offsets(kt, k, n, col_off.data(), bias.data(), 1, z_a, with_zb ? zbp.data() : nullptr, col_off.data());
  for (int64_t j = 0; j < n; ++j) {
    mult[static_cast<size_t>(j)] = mul[static_cast<size_t>(j)].mult;
    rsh[static_cast<size_t>(j)] = 30 + mul[static_cast<size_t>(j)].shift;
  }
  cpu::simd::Q8Cols cols;
  cols.col_off = col_off.data();
  cols.mult = mult.data();
  cols.rsh = rsh.data();
  cols.zb = with_zb ? zbp.data() : nullptr;
  std::vector<uint8_t> scratch(cpu::simd::q8_gemm_scratch_bytes(kt, m, k) + 64);
  void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
  std::vector<int8_t> got(static_cast<size_t>(m * n), 0x55);
  const int64_t y_rs = y_trans ? 1 : n, y_cs = y_trans ? m : 1;
  cpu::simd::q8_gemm(kt, m, n, k, a.data(), a_rs, a_cs, bp.data(), 0, cpu::simd::q8_panels(kt, n), cols, z_y, lo, hi, got.data(),
                     y_rs, y_cs, ws);
  int bad = 0;
  for (int64_t i = 0; i < m && bad < 5; ++i)
    for (int64_t j = 0; j < n && bad < 5; ++j) {
      const int g = got[static_cast<size_t>(i * y_rs + j * y_cs)], w = want[static_cast<size_t>(i * n + j)];
      if (g != w) {
        ++bad;
        FAIL_CHECK("y[" << i << ", " << j << "] = " << g << ", reference " << w);
      }
    }
  CHECK(bad == 0);
}

TEST_CASE("int8 micro-kernels: every variant bit-exact with the scheme over odd shapes and extremes") {
  const auto vs = variants();
  REQUIRE(!vs.empty());
  MESSAGE("int8 variants on this machine: " << [&] {
    std::string s;
    for (auto* v : vs) s += std::string(v->name) + " ";
    return s;
  }());
  std::mt19937 rng(2024);
  for (const auto* kt : vs) {
    // Tails of every tile and k group; a k of one; long k with extreme operands.
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 17, 3}, {5, 7, 13}, {13, 33, 31}, {12, 16, 64}, {25, 10, 257},
                                 {37, 49, 5}, {3, 100, 130}, {96, 20, 27}, {131, 18, 9}};
    for (const auto& s : shapes)
      for (int variant = 0; variant < 4; ++variant)
        check_gemm_variant(*kt, rng, s[0], s[1], s[2], variant & 1, variant & 2, variant == 1 || variant == 2, false,
                           variant == 3);
    check_gemm_variant(*kt, rng, 7, 19, 1031, false, false, true, true, false);
    check_gemm_variant(*kt, rng, 9, 21, 515, true, true, false, true, true);
  }
}

TEST_CASE("int8 binary_row (Add / Sub / Mul arithmetic): every variant equals ref::BinaryQ8 on all byte pairs") {
  // Every (a, b) byte pair, flat and with a scalar operand, for scale / zero-point sets that reach
  // the multipliers' extremes (a tiny operand scale: a right shift past 60 bits; an output scale
  // far below the inputs': a left shift), against the reference's arithmetic.
  struct Params {
    float s_a, s_b, s_y;
    int32_t z_a, z_b, z_y;
  };
  const Params params[] = {{0.02f, 0.03f, 0.04f, 3, -7, 11},      {1.0f, 1e-9f, 0.5f, -128, 127, 0},
                           {0.5f, 0.5f, 1e-4f, 0, 0, -128},       {3e-3f, 7.5f, 9.0f, 127, -128, 127},
                           {1e-5f, 2e-5f, 3e-5f, -100, 100, 5},   {0.1f, 0.1f, 0.1f, 0, 0, 0}};
  std::vector<int8_t> a(65536), b(65536);
  for (int i = 0; i < 65536; ++i) {
    a[static_cast<size_t>(i)] = static_cast<int8_t>(i >> 8);
    b[static_cast<size_t>(i)] = static_cast<int8_t>(i & 255);
  }
  for (const cpu::simd::Q8Kernels* kt : variants()) {
    if (!kt->binary_row) continue;
    CAPTURE(kt->name);
    for (const Params& p : params)
      for (OpType op : {OpType::Add, OpType::Sub, OpType::Mul}) {
        CAPTURE(p.s_a);
        CAPTURE(p.s_b);
        CAPTURE(p.s_y);
        CAPTURE(static_cast<int>(op));
        const ref::BinaryQ8 f(op, p.s_a, p.z_a, p.s_b, p.z_b, p.s_y, p.z_y);
        cpu::simd::Q8BinaryRow r;
        r.op = op == OpType::Mul ? cpu::simd::Q8BinaryRow::kMul : op == OpType::Sub ? cpu::simd::Q8BinaryRow::kSub
                                                                                   : cpu::simd::Q8BinaryRow::kAdd;
        r.z_a = p.z_a, r.z_b = p.z_b, r.z_y = p.z_y;
        r.mult_a = f.ma.mult, r.rsh_a = 30 + f.ma.shift, r.mult_b = f.mb.mult, r.rsh_b = 30 + f.mb.shift;
        r.mult = f.my.mult, r.rsh = 30 + f.my.shift;
        std::vector<int8_t> got(65536), want(65536);
        for (size_t i = 0; i < want.size(); ++i) want[i] = f(a[i], b[i]);
        kt->binary_row(a.data(), 1, b.data(), 1, got.data(), 65533, r);  // a tail of 13
        got[65533] = want[65533], got[65534] = want[65534], got[65535] = want[65535];
        CHECK(got == want);
        // a scalar operand (step 0), either side
        const int8_t bs = static_cast<int8_t>(-77);
        kt->binary_row(a.data(), 1, &bs, 0, got.data(), 65536, r);
        for (size_t i = 0; i < want.size(); ++i) want[i] = f(a[i], bs);
        CHECK(got == want);
        kt->binary_row(&bs, 0, b.data(), 1, got.data(), 65536, r);
        for (size_t i = 0; i < want.size(); ++i) want[i] = f(bs, b[i]);
        CHECK(got == want);
      }
  }
}

TEST_CASE("int8 micro-kernels reading row-major A (q8_gemm_rows) match the packed path byte for byte") {
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> byte(-128, 127);
  for (const cpu::simd::Q8Kernels* kt : variants()) {
    if (!kt->rows_a) continue;
    CAPTURE(kt->name);
    for (auto [m, n, k] : {std::array<int64_t, 3>{13, 21, 27}, {96, 16, 288}, {5, 40, 7}, {31, 33, 130}}) {
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(k);
      const int64_t kp = (k + kt->kg - 1) / kt->kg * kt->kg;
      std::vector<int8_t> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
      for (auto& v : a) v = static_cast<int8_t>(byte(rng));
      for (auto& v : b) v = static_cast<int8_t>(byte(rng));
      const int32_t z_a = byte(rng), z_y = byte(rng) / 2;
      const int64_t npad = cpu::simd::q8_panels(*kt, n) * kt->nr;
      std::vector<uint8_t> bp(cpu::simd::q8_packed_b_bytes(*kt, k, n));
      std::vector<int32_t> colsum(static_cast<size_t>(n)), col_off(static_cast<size_t>(npad), 0), mult(static_cast<size_t>(npad), 0),
          rsh(static_cast<size_t>(npad), 0), bias(static_cast<size_t>(n));
      for (auto& v : bias) v = static_cast<int32_t>(rng() % 20001) - 10000;
      cpu::simd::q8_pack_b(*kt, k, n, b.data(), n, 1, bp.data(), colsum.data());
      cpu::simd::q8_col_offsets(*kt, k, n, colsum.data(), bias.data(), 1, z_a, nullptr, col_off.data());
      for (int64_t j = 0; j < n; ++j) {
        quant::Multiplier mm;
        quant::quantize_multiplier(0.0001 + 0.00002 * static_cast<double>(j), &mm);
        mult[static_cast<size_t>(j)] = mm.mult;
        rsh[static_cast<size_t>(j)] = 30 + mm.shift;
      }
      cpu::simd::Q8Cols cols;
      cols.col_off = col_off.data();
      cols.mult = mult.data();
      cols.rsh = rsh.data();
      std::vector<int8_t> want(static_cast<size_t>(m * n)), got(static_cast<size_t>(m * n), 0x5A);
      std::vector<uint8_t> ws(cpu::simd::q8_gemm_scratch_bytes(*kt, m, k) + 64);
      void* wsp = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws.data()) + 63) / 64 * 64);
      const int64_t panels = cpu::simd::q8_panels(*kt, n);
      cpu::simd::q8_gemm(*kt, m, n, k, a.data(), k, 1, bp.data(), 0, panels, cols, z_y, -128, 127, want.data(), n, 1, wsp);
      // Row-major A in the kernel's element form, rows padded to kp with garbage (B's padding is 0).
      std::vector<uint8_t> ar(static_cast<size_t>(m * (kp + 5)), 0xC3);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t kk = 0; kk < k; ++kk)
          ar[static_cast<size_t>(r * (kp + 5) + kk)] = static_cast<uint8_t>(a[static_cast<size_t>(r * k + kk)]) ^ (kt->a_u8 ? 0x80 : 0);
      cpu::simd::q8_gemm_rows(*kt, m, n, k, ar.data(), kp + 5, bp.data(), 0, panels, cols, z_y, -128, 127, got.data(), n, 1);
      CHECK(want == got);
    }
  }
}

// ---- (2) the CPU backend's int8 nodes against the reference --------------------------------------

// Runs the node on the reference and through the CPU kernel table (1 and 3 threads) and requires
// the outputs to be identical bytes.
void check_node(OpType op, const fb::NodeOptionsUnion& opts, std::vector<QTensor*> ins, QTensor& y, const std::string& what) {
  CAPTURE(what);
  for (QTensor* t : ins)
    if (t) t->finish();
  y.finish();
  std::vector<const TensorRef*> in_refs;
  for (QTensor* t : ins) in_refs.push_back(t ? &t->ref : nullptr);
  const TensorRef* out_ref = &y.ref;
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = op;
  kc.options = &opts;
  kc.inputs = in_refs;
  kc.outputs = {&out_ref, 1};
  Status s = ref::run_node_once(kc);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  const std::vector<uint8_t> want = y.bytes;

  for (int threads : {1, 3}) {
    CAPTURE(threads);
    std::fill(y.bytes.begin(), y.bytes.end(), 0x5A);
    std::vector<TensorRef> tensors;
    std::vector<uint8_t> is_const;
    std::vector<int32_t> in_idx;
    for (QTensor* t : ins) {
      if (!t) {
        in_idx.push_back(-1);
        continue;
      }
      in_idx.push_back(static_cast<int32_t>(tensors.size()));
      tensors.push_back(t->ref);
      is_const.push_back(t->constant ? 1 : 0);
    }
    const int32_t out_idx = static_cast<int32_t>(tensors.size());
    tensors.push_back(y.ref);
    is_const.push_back(0);
    NodeView v;
    v.name = "test";
    v.op = op;
    v.options = &opts;
    v.inputs = in_idx;
    v.outputs = std::span<const int32_t>(&out_idx, 1);
    std::vector<const TensorRef*> ip, op_;
    for (int32_t i : in_idx) ip.push_back(i < 0 ? nullptr : &tensors[static_cast<size_t>(i)]);
    op_.push_back(&tensors[static_cast<size_t>(out_idx)]);
    auto th = cpu::Threads::create(threads);
    REQUIRE(th.is_ok());
    cpu::Context ctx;
    ctx.num_threads = threads;
    ctx.threads = th.value().get();
    auto kr = cpu::create_kernel(ctx, v, ip, op_, is_const);
    REQUIRE_MESSAGE(kr.is_ok(), kr.status().message());
    std::unique_ptr<cpu::CpuKernel> k = std::move(kr.value());
    REQUIRE_MESSAGE(k != nullptr, "the CPU kernel table left the int8 node to the reference");
    std::vector<uint8_t> scratch(k->scratch_bytes() + 64);
    void* ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
    for (int rep = 0; rep < 2; ++rep) {  // a second run must give the same bytes
      Status rs = k->run(ws);
      REQUIRE_MESSAGE(rs.is_ok(), rs.message());
      int bad = 0;
      for (size_t i = 0; i < want.size() && bad < 5; ++i)
        if (want[i] != y.bytes[i]) {
          ++bad;
          FAIL_CHECK("element " << i << ": cpu " << int(static_cast<int8_t>(y.bytes[i])) << ", reference "
                                << int(static_cast<int8_t>(want[i])));
        }
      CHECK(bad == 0);
    }
  }
}

fb::NodeOptionsUnion conv_opts(int rank, int k, int s, int d, int p, int group, fb::Activation a = fb::Activation::None,
                               float amin = 0, float amax = 0) {
  const auto n = static_cast<size_t>(rank);
  return tern::test::conv_options(std::vector<int32_t>(n, k), std::vector<int32_t>(n, s), std::vector<int32_t>(n, d),
                                  std::vector<int32_t>(2 * n, p), group, a, amin, amax);
}

// ---- channels_last ([N, spatial..., C], the layout pass) ----------------------------------------

// A channels-last copy of an [N, C, spatial...] tensor (same quantization).
QPtr to_channels_last(const QTensor& t) {
  auto r = std::make_unique<QTensor>(t);
  const int rank = t.shape.rank;
  const int64_t n = t.shape[0], c = t.shape[1], p = t.shape.numel() / (n * c);
  for (int i = 1; i < rank - 1; ++i) r->shape[i] = t.shape[i + 1];
  r->shape[rank - 1] = c;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < p; ++q) r->bytes[static_cast<size_t>((i * p + q) * c + ch)] = t.bytes[static_cast<size_t>((i * c + ch) * p + q)];
  return r;
}

// The reference's output for the node (NCHW); y's bytes are overwritten.
std::vector<uint8_t> run_ref(OpType op, const fb::NodeOptionsUnion& opts, std::vector<QTensor*> ins, QTensor& y) {
  for (QTensor* t : ins)
    if (t) t->finish();
  y.finish();
  std::vector<const TensorRef*> in_refs;
  for (QTensor* t : ins) in_refs.push_back(t ? &t->ref : nullptr);
  const TensorRef* out_ref = &y.ref;
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = op;
  kc.options = &opts;
  kc.inputs = in_refs;
  kc.outputs = {&out_ref, 1};
  Status s = ref::run_node_once(kc);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  return y.bytes;
}

// The node in channels_last form (x, y transposed; `cl_opts` has channels_last set): the CPU kernel
// bit-exact with the reference (check_node), and both equal to the NCHW reference's output.
void check_channels_last(OpType op, const fb::NodeOptionsUnion& nchw_opts, const fb::NodeOptionsUnion& cl_opts, QTensor& x,
                         std::vector<QTensor*> rest, QTensor& y, const std::string& what) {
  std::vector<QTensor*> ins{&x};
  ins.insert(ins.end(), rest.begin(), rest.end());
  run_ref(op, nchw_opts, ins, y);
  QPtr want = to_channels_last(y);
  QPtr xl = to_channels_last(x);
  QPtr yl = to_channels_last(y);
  std::fill(yl->bytes.begin(), yl->bytes.end(), 0);
  std::vector<QTensor*> ins_l{xl.get()};
  ins_l.insert(ins_l.end(), rest.begin(), rest.end());
  check_node(op, cl_opts, ins_l, *yl, what + " (channels_last)");
  CAPTURE(what);
  CHECK_MESSAGE(yl->bytes == want->bytes, "channels_last output differs from the NCHW reference");
}

struct ConvCase {
  int64_t n, c, h, w, m, k;
  int group, stride, pad, dil;
  fb::Activation act;
  bool per_channel;
  const char* name;
};
// The int8 Conv cases, run NCHW against the reference and channels-last against both.
const ConvCase kConvCases[] = {
    {1, 3, 9, 11, 8, 3, 1, 1, 1, 1, fb::Activation::None, true, "3x3 pad 1 (stem-like, 3 channels)"},
    {2, 5, 13, 7, 19, 3, 1, 2, 1, 1, fb::Activation::Relu, true, "3x3 stride 2 relu, odd channels"},
    {1, 16, 15, 17, 24, 3, 1, 2, 1, 1, fb::Activation::Clip, true, "3x3 stride 2 clip"},
    {2, 4, 10, 7, 6, 3, 2, 2, 1, 1, fb::Activation::Relu, true, "grouped"},
    {1, 8, 7, 9, 12, 1, 4, 1, 0, 1, fb::Activation::None, true, "grouped pointwise"},
    {1, 8, 7, 9, 8, 3, 8, 1, 1, 1, fb::Activation::None, true, "depthwise"},
    {2, 21, 9, 8, 21, 3, 21, 2, 1, 1, fb::Activation::Relu, true, "depthwise stride 2 odd channels"},
    {2, 6, 8, 8, 12, 3, 6, 2, 1, 1, fb::Activation::Clip, true, "depthwise multiplier 2 stride 2 clip"},
    {1, 7, 15, 15, 7, 5, 7, 1, 2, 1, fb::Activation::None, false, "depthwise 5x5 per-tensor weights"},
    {1, 40, 12, 11, 40, 3, 40, 1, 2, 2, fb::Activation::Relu, true, "depthwise dilated"},
    {1, 5, 6, 6, 7, 1, 1, 1, 0, 1, fb::Activation::None, true, "pointwise"},
    {2, 37, 9, 11, 45, 1, 1, 1, 0, 1, fb::Activation::Clip, false, "pointwise per-tensor weights clip"},
    {1, 9, 5, 6, 33, 1, 1, 2, 0, 1, fb::Activation::None, true, "1x1 stride 2 (im2col)"},
    {1, 3, 12, 12, 4, 3, 1, 1, 2, 2, fb::Activation::Relu, true, "dilated"},
    {1, 24, 28, 28, 40, 3, 1, 1, 1, 1, fb::Activation::Relu, true, "large enough for threads"},
    {1, 64, 14, 14, 64, 3, 64, 1, 1, 1, fb::Activation::Relu, true, "depthwise large"},
    {1, 96, 20, 20, 200, 1, 1, 1, 0, 1, fb::Activation::None, true, "pointwise large"},
    {1, 16, 33, 31, 32, 1, 1, 1, 0, 1, fb::Activation::Relu, true, "pointwise many pixels"},
    // the channels-last direct form (interior tiles read the image in place): per-tap segments of
    // a group, dilated kernel rows, 5x5 stride 2, rows that span several output rows
    {1, 16, 12, 13, 24, 3, 2, 1, 1, 1, fb::Activation::Relu, true, "grouped 3x3, 8 channels a group (direct)"},
    {1, 8, 14, 15, 16, 3, 1, 1, 2, 2, fb::Activation::None, true, "dilated 3x3, 8 channels (direct)"},
    {2, 12, 11, 9, 20, 5, 1, 2, 2, 1, fb::Activation::Clip, true, "5x5 stride 2 (direct)"},
    {1, 4, 40, 40, 16, 3, 1, 1, 1, 1, fb::Activation::None, true, "3x3 4 channels, many rows (direct)"},
};

struct PoolCase {
  Shape x, y;
  int k, s, p;
  bool include_pad, ceil;
  const char* name;
};
// The int8 AveragePool cases, run NCHW against the reference and channels-last against both.
const PoolCase kPoolCases[] = {
    {Shape{2, 3, 9, 8}, Shape{2, 3, 5, 4}, 3, 2, 1, false, false, "3x3 s2 p1"},
    {Shape{2, 3, 9, 8}, Shape{2, 3, 5, 4}, 3, 2, 1, true, false, "3x3 s2 p1 include pad"},
    {Shape{2, 19, 9, 8}, Shape{2, 19, 5, 4}, 3, 2, 1, true, false, "3x3 s2 p1 include pad, 19 channels"},
    {Shape{1, 48, 14, 14}, Shape{1, 48, 14, 14}, 3, 1, 1, false, false, "poolformer 3x3 s1 p1"},
    {Shape{1, 5, 10, 11}, Shape{1, 5, 5, 5}, 3, 2, 0, false, true, "ceil mode"},
    {Shape{1, 4, 12, 12}, Shape{1, 4, 4, 4}, 3, 3, 0, false, false, "non-overlapping"},
    {Shape{1, 64, 28, 28}, Shape{1, 64, 14, 14}, 2, 2, 0, false, false, "2x2 s2 large"},
};
fb::NodeOptionsUnion pool_options(const PoolCase& cs, bool channels_last) {
  fb::NodeOptionsUnion u;
  auto* o = new fb::PoolOptionsT;
  o->kernel_shape = {cs.k, cs.k};
  o->strides = {cs.s, cs.s};
  o->dilations = {1, 1};
  o->pads = {cs.p, cs.p, cs.p, cs.p};
  o->count_include_pad = cs.include_pad;
  o->ceil_mode = cs.ceil;
  o->channels_last = channels_last;
  u.type = fb::NodeOptions::PoolOptions;
  u.value = o;
  return u;
}

}  // namespace

TEST_CASE("int8 Conv on the CPU backend is bit-exact with the reference (GEMM, pointwise, im2col, groups, depthwise)") {
  MESSAGE("int8 micro-kernel in use: " << std::string(cpu::simd::q8_kernels().name));
  std::mt19937 rng(7);
  for (const ConvCase& cs : kConvCases) {
    const int64_t span = cs.dil * (cs.k - 1) + 1;
    const Shape xs{cs.n, cs.c, cs.h, cs.w}, ws{cs.m, cs.c / cs.group, cs.k, cs.k};
    const Shape ys{cs.n, cs.m, (cs.h + 2 * cs.pad - span) / cs.stride + 1, (cs.w + 2 * cs.pad - span) / cs.stride + 1};
    QPtr x = act(rng, xs, 0.02f, static_cast<int>(rng() % 200) - 100);
    QPtr w = weights(rng, ws, 0, cs.per_channel, cs.per_channel ? 0 : 3);
    QPtr b = bias32(rng, cs.m);
    QPtr y = out8(ys, 0.05f, static_cast<int>(rng() % 100) - 50);
    auto o = conv_opts(2, static_cast<int>(cs.k), cs.stride, cs.dil, cs.pad, cs.group, cs.act, -0.4f, 1.3f);
    check_node(OpType::Conv, o, {x.get(), w.get(), b.get()}, *y, cs.name);
  }
  {
    // Conv1d without bias, and Conv3d.
    QPtr x = act(rng, Shape{2, 4, 13}, 0.03f, 11);
    QPtr w = weights(rng, Shape{5, 4, 3}, 0, true);
    QPtr y = out8(Shape{2, 5, 13}, 0.04f, -7);
    check_node(OpType::Conv, conv_opts(1, 3, 1, 1, 1, 1), {x.get(), w.get(), nullptr}, *y, "conv1d no bias");
    QPtr x3 = act(rng, Shape{1, 3, 5, 6, 7}, 0.03f, -20);
    QPtr w3 = weights(rng, Shape{6, 3, 3, 3, 3}, 0, true);
    QPtr b3 = bias32(rng, 6);
    QPtr y3 = out8(Shape{1, 6, 5, 6, 7}, 0.1f, 4);
    check_node(OpType::Conv, conv_opts(3, 3, 1, 1, 1, 1, fb::Activation::Relu), {x3.get(), w3.get(), b3.get()}, *y3, "conv3d");
  }
}

TEST_CASE("int8 Gemm and MatMul on the CPU backend are bit-exact with the reference") {
  std::mt19937 rng(8);
  // Gemm: trans_a / trans_b, bias [N] / scalar / none, per-channel / per-tensor weights, Relu / Clip.
  const int64_t dims[][3] = {{1, 10, 64}, {5, 9, 17}, {13, 33, 31}, {3, 257, 100}, {200, 100, 64}};
  int idx = 0;
  for (const auto& d : dims)
    for (int v = 0; v < 4; ++v, ++idx) {
      const int64_t m = d[0], n = d[1], k = d[2];
      const bool ta = v == 3, tb = v & 1, per_channel = v != 2;
      QPtr a = act(rng, ta ? Shape{k, m} : Shape{m, k}, 0.05f, static_cast<int>(rng() % 256) - 128);
      QPtr b = weights(rng, tb ? Shape{n, k} : Shape{k, n}, tb ? 0 : 1, per_channel, per_channel ? 0 : -5);
      QPtr c = v == 1 ? bias32(rng, 1) : v == 2 ? nullptr : bias32(rng, n);
      QPtr y = out8(Shape{m, n}, 0.08f, static_cast<int>(rng() % 100) - 50);
      fb::NodeOptionsUnion u;
      auto* o = new fb::GemmOptionsT;
      o->trans_a = ta;
      o->trans_b = tb;
      o->activation = v == 0 ? fb::Activation::Relu : v == 3 ? fb::Activation::Clip : fb::Activation::None;
      o->activation_min = -0.3f;
      o->activation_max = 0.9f;
      u.type = fb::NodeOptions::GemmOptions;
      u.value = o;
      check_node(OpType::Gemm, u, {a.get(), b.get(), c.get()}, *y, "gemm " + std::to_string(idx));
    }
  auto mm_opts = [](fb::Activation a = fb::Activation::None) {
    fb::NodeOptionsUnion u;
    auto* o = new fb::MatMulOptionsT;
    o->activation = a;
    u.type = fb::NodeOptions::MatMulOptions;
    u.value = o;
    return u;
  };
  {
    // Activation x constant weights [K, N] per column, bias, batched A.
    QPtr a = act(rng, Shape{2, 3, 6, 10}, 0.05f, 9);
    QPtr b = weights(rng, Shape{10, 7}, 1, true);
    QPtr c = bias32(rng, 7);
    QPtr y = out8(Shape{2, 3, 6, 7}, 0.1f, 3);
    check_node(OpType::MatMul, mm_opts(fb::Activation::Relu), {a.get(), b.get(), c.get()}, *y, "matmul weights");
  }
  {
    // Two activations (both with zero points), broadcast batch.
    QPtr a = act(rng, Shape{2, 4, 5, 8}, 0.05f, -17);
    QPtr b = act(rng, Shape{4, 8, 6}, 0.03f, 41);
    QPtr y = out8(Shape{2, 4, 5, 6}, 0.2f, -3);
    check_node(OpType::MatMul, mm_opts(), {a.get(), b.get()}, *y, "matmul activations broadcast");
  }
  {
    // Attention-sized activation product, large enough for threads.
    QPtr a = act(rng, Shape{3, 65, 48}, 0.05f, 100);
    QPtr b = act(rng, Shape{3, 48, 65}, 0.03f, -128);
    QPtr y = out8(Shape{3, 65, 65}, 0.5f, 0);
    check_node(OpType::MatMul, mm_opts(), {a.get(), b.get()}, *y, "matmul activations large");
  }
  {
    // 1-D operands.
    QPtr a = act(rng, Shape{19}, 0.05f, 5);
    QPtr b = act(rng, Shape{19, 11}, 0.03f, -9);
    QPtr y = out8(Shape{11}, 0.1f, 1);
    check_node(OpType::MatMul, mm_opts(), {a.get(), b.get()}, *y, "matmul vector x matrix");
    QPtr a2 = act(rng, Shape{4, 19}, 0.05f, 5);
    QPtr b2 = act(rng, Shape{19}, 0.03f, -9);
    QPtr y2 = out8(Shape{4}, 0.1f, 1);
    check_node(OpType::MatMul, mm_opts(), {a2.get(), b2.get()}, *y2, "matmul matrix x vector");
  }
}

TEST_CASE("int8 QuantizeLinear / DequantizeLinear, Add / Sub / Mul, Relu / Clip on the CPU backend are bit-exact") {
  std::mt19937 rng(9);
  fb::NodeOptionsUnion none;
  {
    // Float -> int8: ties (x = (q + 0.5) scale), NaN, infinities, values far outside the range, tails.
    const float scale = 0.0371f;
    for (int64_t n : {1, 7, 16, 33, 1000, 70001}) {
      auto x = std::make_unique<QTensor>();
      x->dtype = DType::Float32;
      x->shape = Shape{n};
      x->bytes.resize(static_cast<size_t>(n) * 4);
      std::uniform_real_distribution<float> u(-6.f, 6.f);
      for (int64_t i = 0; i < n; ++i) {
        float v = u(rng);
        if (i % 5 == 1) v = (static_cast<float>(static_cast<int>(rng() % 300) - 150) + 0.5f) * scale;
        if (i % 97 == 3) v = NAN;
        if (i % 89 == 4) v = (i % 2 ? 1 : -1) * INFINITY;
        if (i % 83 == 5) v = 1e30f;
        std::memcpy(x->bytes.data() + i * 4, &v, 4);
      }
      for (int z : {0, -100, 127}) {
        QPtr y = out8(Shape{n}, scale, z);
        check_node(OpType::QuantizeLinear, none, {x.get()}, *y, "quantize n=" + std::to_string(n) + " z=" + std::to_string(z));
        // And back.
        auto f = std::make_unique<QTensor>();
        f->dtype = DType::Float32;
        f->shape = Shape{n};
        f->bytes.assign(static_cast<size_t>(n) * 4, 0);
        check_node(OpType::DequantizeLinear, none, {y.get()}, *f, "dequantize n=" + std::to_string(n));
      }
    }
  }
  for (OpType op : {OpType::Add, OpType::Sub, OpType::Mul}) {
    const std::string name = op == OpType::Add ? "add" : op == OpType::Sub ? "sub" : "mul";
    // Same shapes (large enough for threads), a scalar on either side, general broadcast.
    const Shape shapes[][3] = {{Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5}},
                               {Shape{70000}, Shape{70000}, Shape{70000}},
                               {Shape{3, 17}, Shape{1}, Shape{3, 17}},
                               {Shape{1}, Shape{3, 17}, Shape{3, 17}},
                               {Shape{2, 3, 4, 5}, Shape{3, 1, 5}, Shape{2, 3, 4, 5}},
                               // per-channel operand, constant over runs of the output (rows)
                               {Shape{2, 16, 6, 7}, Shape{16, 1, 1}, Shape{2, 16, 6, 7}},
                               {Shape{1, 8, 1, 1}, Shape{3, 8, 5, 5}, Shape{3, 8, 5, 5}},
                               {Shape{3, 70, 300}, Shape{3, 1, 1}, Shape{3, 70, 300}},
                               // channels-last per-channel constants, repeating innermost (tiles)
                               {Shape{2, 6, 7, 48}, Shape{48}, Shape{2, 6, 7, 48}},
                               {Shape{1, 1, 1, 300}, Shape{1, 9, 7, 300}, Shape{1, 9, 7, 300}},
                               {Shape{1, 28, 28, 96}, Shape{1, 1, 1, 96}, Shape{1, 28, 28, 96}},
                               {Shape{2, 5, 7, 9}, Shape{7, 9}, Shape{2, 5, 7, 9}}};
    for (const auto& s : shapes) {
      QPtr a = act(rng, s[0], 0.04f, static_cast<int>(rng() % 256) - 128);
      QPtr b = act(rng, s[1], 0.004f, static_cast<int>(rng() % 256) - 128);  // very different scales
      // The smaller operand as a constant (what the tile forms take; the others ignore it).
      if (s[0].numel() < s[2].numel()) a->constant = true;
      if (s[1].numel() < s[2].numel()) b->constant = true;
      QPtr y = out8(s[2], 0.05f, static_cast<int>(rng() % 100) - 50);
      check_node(op, none, {a.get(), b.get()}, *y, name + " " + s[0].str() + " " + s[1].str());
    }
    // Every pair of input bytes, at scale ratios from balanced to extreme and zero points at the ends
    // (saturation on both sides).
    const float scales[][3] = {{0.04f, 0.04f, 0.05f}, {0.5f, 0.001f, 0.02f}, {0.001f, 0.9f, 2.0f}, {0.02f, 0.03f, 0.0004f}};
    const int zps[][3] = {{0, 0, 0}, {-128, 127, -128}, {127, -128, 127}, {5, -7, 13}};
    for (int c = 0; c < 4; ++c) {
      QPtr a = act(rng, Shape{65536}, scales[c][0], zps[c][0]);
      QPtr b = act(rng, Shape{65536}, scales[c][1], zps[c][1]);
      for (int i = 0; i < 65536; ++i) {
        a->bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(i >> 8);
        b->bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(i & 255);
      }
      QPtr y = out8(Shape{65536}, scales[c][2], zps[c][2]);
      check_node(op, none, {a.get(), b.get()}, *y, name + " all byte pairs, case " + std::to_string(c));
    }
  }
  {
    QPtr x = act(rng, Shape{5, 13}, 0.03f, 20);
    QPtr y = out8(Shape{5, 13}, 0.02f, -128);
    check_node(OpType::Relu, none, {x.get()}, *y, "relu");
    fb::NodeOptionsUnion u;
    auto* o = new fb::ClipOptionsT;
    o->min = -0.5f;
    o->max = 1.5f;
    u.type = fb::NodeOptions::ClipOptions;
    u.value = o;
    QPtr y2 = out8(Shape{5, 13}, 0.01f, 3);
    check_node(OpType::Clip, u, {x.get()}, *y2, "clip");
  }
}

TEST_CASE("int8 AveragePool / GlobalAveragePool on the CPU backend are bit-exact with the reference") {
  std::mt19937 rng(10);
  for (const PoolCase& cs : kPoolCases) {
    QPtr x = act(rng, cs.x, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(cs.y, 0.02f, static_cast<int>(rng() % 100) - 50);
    check_node(OpType::AveragePool, pool_options(cs, false), {x.get()}, *y, cs.name);
  }
  fb::NodeOptionsUnion none;
  for (const Shape& s : {Shape{2, 5, 6, 7}, Shape{1, 130, 16, 16}}) {
    QPtr x = act(rng, s, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(Shape{s[0], s[1], 1, 1}, 0.01f, 7);
    check_node(OpType::GlobalAveragePool, none, {x.get()}, *y, "global average pool " + s.str());
  }
}

TEST_CASE("int8 element-wise activation tables (Activation, Sigmoid, Tanh, HardSwish, HardSigmoid) on the CPU backend are bit-exact") {
  std::mt19937 rng(11);
  // Every input byte, under several input / output quantizations, for every activation kind.
  auto all_bytes = [](float scale, int z) {
    auto t = std::make_unique<QTensor>();
    t->shape = Shape{256};
    for (int i = 0; i < 256; ++i) t->bytes.push_back(static_cast<uint8_t>(i));
    t->scale = {scale};
    t->zp = {z};
    return t;
  };
  const struct {
    float sx;
    int zx;
    float sy;
    int zy;
  } qs[] = {{0.05f, 0, 0.03f, -100}, {0.1f, -128, 0.004f, -128}, {0.02f, 127, 0.05f, 20}, {0.3f, 17, 0.0078f, 0}};
  const fb::Activation kinds[] = {fb::Activation::Sigmoid, fb::Activation::SiLU, fb::Activation::GELU, fb::Activation::GELUTanh,
                                  fb::Activation::HardSwish, fb::Activation::HardSigmoid, fb::Activation::Tanh,
                                  fb::Activation::Relu, fb::Activation::Clip};
  for (fb::Activation kind : kinds)
    for (const auto& q : qs) {
      fb::NodeOptionsUnion u;
      auto* o = new fb::ActivationOptionsT;
      o->activation = kind;
      o->activation_min = kind == fb::Activation::HardSigmoid ? 0.2f : -0.7f;
      o->activation_max = kind == fb::Activation::HardSigmoid ? 0.5f : 2.5f;
      u.type = fb::NodeOptions::ActivationOptions;
      u.value = o;
      QPtr x = all_bytes(q.sx, q.zx);
      QPtr y = out8(Shape{256}, q.sy, q.zy);
      check_node(OpType::Activation, u, {x.get()}, *y,
                 std::string("activation ") + fb::EnumNameActivation(kind) + " sx=" + std::to_string(q.sx) + " zy=" + std::to_string(q.zy));
    }
  // The standalone unary ops, and a tensor large enough for threads.
  fb::NodeOptionsUnion none;
  fb::NodeOptionsUnion ab;
  auto* abo = new fb::AlphaBetaOptionsT;
  abo->alpha = 0.25f;
  abo->beta = 0.4f;
  ab.type = fb::NodeOptions::AlphaBetaOptions;
  ab.value = abo;
  for (OpType op : {OpType::Sigmoid, OpType::Tanh, OpType::HardSwish, OpType::HardSigmoid})
    for (const auto& q : qs) {
      QPtr x = all_bytes(q.sx, q.zx);
      QPtr y = out8(Shape{256}, q.sy, q.zy);
      check_node(op, op == OpType::HardSigmoid ? ab : none, {x.get()}, *y, std::string("unary ") + fb::EnumNameOpType(op));
    }
  fb::NodeOptionsUnion silu;
  auto* so = new fb::ActivationOptionsT;
  so->activation = fb::Activation::SiLU;
  silu.type = fb::NodeOptions::ActivationOptions;
  silu.value = so;
  QPtr x = act(rng, Shape{3, 70001}, 0.04f, -5);
  QPtr y = out8(Shape{3, 70001}, 0.02f, -110);
  check_node(OpType::Activation, silu, {x.get()}, *y, "silu large");
}

TEST_CASE("int8 channels_last Conv on the CPU backend: bit-exact with the reference and with NCHW") {
  std::mt19937 rng(21);
  for (const ConvCase& cs : kConvCases) {
    const int64_t span = cs.dil * (cs.k - 1) + 1;
    const Shape xs{cs.n, cs.c, cs.h, cs.w}, ws{cs.m, cs.c / cs.group, cs.k, cs.k};
    const Shape ys{cs.n, cs.m, (cs.h + 2 * cs.pad - span) / cs.stride + 1, (cs.w + 2 * cs.pad - span) / cs.stride + 1};
    QPtr x = act(rng, xs, 0.02f, static_cast<int>(rng() % 200) - 100);
    QPtr w = weights(rng, ws, 0, cs.per_channel, cs.per_channel ? 0 : 3);
    QPtr b = bias32(rng, cs.m);
    QPtr y = out8(ys, 0.05f, static_cast<int>(rng() % 100) - 50);
    auto o = conv_opts(2, static_cast<int>(cs.k), cs.stride, cs.dil, cs.pad, cs.group, cs.act, -0.4f, 1.3f);
    auto ol = conv_opts(2, static_cast<int>(cs.k), cs.stride, cs.dil, cs.pad, cs.group, cs.act, -0.4f, 1.3f);
    static_cast<fb::ConvOptionsT*>(ol.value)->channels_last = true;
    check_channels_last(OpType::Conv, o, ol, *x, {w.get(), b.get()}, *y, cs.name);
  }
  // Conv1d ([N, W, C]) without bias, and a depthwise Conv1d.
  QPtr x = act(rng, Shape{2, 4, 13}, 0.03f, 11);
  QPtr w = weights(rng, Shape{5, 4, 3}, 0, true);
  QPtr y = out8(Shape{2, 5, 13}, 0.04f, -7);
  auto o1 = conv_opts(1, 3, 1, 1, 1, 1), o1l = conv_opts(1, 3, 1, 1, 1, 1);
  static_cast<fb::ConvOptionsT*>(o1l.value)->channels_last = true;
  check_channels_last(OpType::Conv, o1, o1l, *x, {w.get(), nullptr}, *y, "conv1d no bias");
  QPtr xd = act(rng, Shape{1, 6, 17}, 0.03f, -3);
  QPtr wd = weights(rng, Shape{6, 1, 5}, 0, true);
  QPtr bd = bias32(rng, 6);
  QPtr yd = out8(Shape{1, 6, 9}, 0.04f, 2);
  auto od = conv_opts(1, 5, 2, 1, 2, 6, fb::Activation::Relu), odl = conv_opts(1, 5, 2, 1, 2, 6, fb::Activation::Relu);
  static_cast<fb::ConvOptionsT*>(odl.value)->channels_last = true;
  check_channels_last(OpType::Conv, od, odl, *xd, {wd.get(), bd.get()}, *yd, "depthwise conv1d stride 2");
}

TEST_CASE("int8 channels_last AveragePool and ReduceMean (the NHWC global pool) on the CPU backend are bit-exact") {
  std::mt19937 rng(22);
  for (const PoolCase& cs : kPoolCases) {
    QPtr x = act(rng, cs.x, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(cs.y, 0.02f, static_cast<int>(rng() % 100) - 50);
    check_channels_last(OpType::AveragePool, pool_options(cs, false), pool_options(cs, true), *x, {}, *y, cs.name);
  }
  // ReduceMean over axes 1, 2 of [N, H, W, C] == GlobalAveragePool of the NCHW tensor.
  for (const Shape& s : {Shape{2, 5, 6, 7}, Shape{1, 300, 16, 16}}) {
    QPtr x = act(rng, s, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(Shape{s[0], s[1], 1, 1}, 0.01f, 7);
    fb::NodeOptionsUnion none;
    run_ref(OpType::GlobalAveragePool, none, {x.get()}, *y);
    QPtr xl = to_channels_last(*x);
    QPtr yl = out8(Shape{s[0], 1, 1, s[1]}, 0.01f, 7);
    fb::NodeOptionsUnion u;
    auto* ro = new fb::ReduceOptionsT;
    ro->axes = {1, 2};
    ro->keepdims = true;
    u.type = fb::NodeOptions::ReduceOptions;
    u.value = ro;
    check_node(OpType::ReduceMean, u, {xl.get()}, *yl, "reduce mean axes 1,2 " + s.str());
    CHECK(yl->bytes == y->bytes);  // [N, 1, 1, C] and [N, C, 1, 1] hold the same order
  }
}

TEST_CASE("int8 Transpose NCHW <-> NHWC on the CPU backend copies the bytes exactly") {
  std::mt19937 rng(23);
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 70, 33, 65}, Shape{1, 96, 28, 28}, Shape{1, 64, 16, 16}, Shape{2, 9, 131}}) {
    const bool rank3 = s.rank == 3;
    for (int dir = 0; dir < (rank3 ? 1 : 2); ++dir) {
      QPtr x = act(rng, s, 0.1f, 3);
      fb::NodeOptionsUnion u;
      auto* o = new fb::TransposeOptionsT;
      o->perm = rank3 ? std::vector<int32_t>{0, 2, 1} : dir == 0 ? std::vector<int32_t>{0, 2, 3, 1} : std::vector<int32_t>{0, 3, 1, 2};
      Shape ys = s;
      for (int i = 0; i < s.rank; ++i) ys[i] = s[o->perm[static_cast<size_t>(i)]];
      u.type = fb::NodeOptions::TransposeOptions;
      u.value = o;
      QPtr y = out8(ys, 0.1f, 3);
      check_node(OpType::Transpose, u, {x.get()}, *y, "transpose " + s.str());
    }
  }
}

// ---- int8 Attention (reference/ops/attention_q8.h) -----------------------------------------------

TEST_CASE("int8 Attention micro-kernels: every variant's att_gemm and att_softmax equal the scalar definition") {
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> s255(-255, 255);
  for (const cpu::simd::Q8Kernels* kt : variants()) {
    CAPTURE(kt->name);
    REQUIRE(static_cast<bool>(kt->att_gemm));
    REQUIRE(static_cast<bool>(kt->att_softmax));
    for (auto [m, n, kp] : {std::array<int64_t, 3>{8, 32, 1}, {16, 64, 3}, {8, 96, 32}, {24, 32, 99}, {8, 16, 5}, {16, 48, 7}}) {
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(kp);
      const int64_t lda = 2 * kp + 6;  // a row stride beyond the pairs: only 2 kp are read
      std::vector<int16_t> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(kp * n * 2));
      for (auto& v : a) v = static_cast<int16_t>(s255(rng));
      for (auto& v : b) v = static_cast<int16_t>(rng() % 4 == 0 ? (rng() % 2 ? 255 : -255) : s255(rng));
      std::vector<int32_t> want(static_cast<size_t>(m * (n + 8)), 7), got(want);
      cpu::simd::q8_att_gemm_scalar(m, n, kp, a.data(), lda, b.data(), want.data(), n + 8);
      kt->att_gemm(m, n, kp, a.data(), lda, b.data(), got.data(), n + 8);
      CHECK(want == got);
    }
    if (kt->att_qk_u8) {  // bytes, u8 x s8 in groups of 4, plus the column term
      for (auto [m, n, kq] : {std::array<int64_t, 3>{8, 32, 1}, {16, 64, 16}, {24, 96, 5}, {8, 16, 4}, {16, 80, 3}}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(kq);
        const int64_t lda = 4 * kq + 3;
        std::vector<uint8_t> a(static_cast<size_t>(m * lda));
        std::vector<int8_t> b(static_cast<size_t>(kq * n * 4));
        std::vector<int32_t> col(static_cast<size_t>(n));
        for (auto& v : a) v = static_cast<uint8_t>(rng() % 3 == 0 ? 255 : rng());
        for (auto& v : b) v = static_cast<int8_t>(rng() % 3 == 0 ? -128 : static_cast<int>(rng() % 256) - 128);
        for (auto& v : col) v = static_cast<int32_t>(rng() % 2000001) - 1000000;
        std::vector<int32_t> want(static_cast<size_t>(m * (n + 4)), 3), got(want);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            int32_t acc = col[static_cast<size_t>(j)];
            for (int64_t t = 0; t < 4 * kq; ++t)
              acc += a[static_cast<size_t>(i * lda + t)] * b[static_cast<size_t>(((t / 4) * n + j) * 4 + t % 4)];
            want[static_cast<size_t>(i * (n + 4) + j)] = acc;
          }
        kt->att_qk_u8(m, n, kq, a.data(), lda, b.data(), col.data(), got.data(), n + 4);
        CHECK(want == got);
      }
    }
    // Softmax rows: scores of every regime (spread, all equal, one far above, negative, near the
    // int32 extremes of the exact range) and steps from tiny (all equal after rounding) to huge.
    for (int64_t n : {1, 2, 7, 8, 15, 16, 17, 33, 64, 197, 300}) {
      for (int regime = 0; regime < 5; ++regime)
        for (float c256 : {1e-9f, 1e-3f, 0.02f, 0.7f, 3.0f, 1e6f, 1e30f}) {
          CAPTURE(n);
          CAPTURE(regime);
          CAPTURE(c256);
          std::vector<int32_t> s(static_cast<size_t>(n));
          for (auto& v : s) {
            switch (regime) {
              case 0: v = static_cast<int32_t>(rng() % 20001) - 10000; break;
              case 1: v = 1234; break;
              case 2: v = static_cast<int32_t>(rng() % 100); break;
              case 3: v = -static_cast<int32_t>(rng() % 1000000); break;
              default: v = static_cast<int32_t>(rng() % 2 ? 500000000 : -500000000) + static_cast<int32_t>(rng() % 1000); break;
            }
          }
          if (regime == 2) s[rng() % s.size()] = 1000000;  // one far above the rest
          std::vector<int32_t> e1(s.size()), e2(s.size());
          std::vector<int16_t> p1(s.size(), -1), p2(s.size(), -2);
          cpu::simd::q8_att_softmax_scalar(s.data(), n, c256, e1.data(), p1.data());
          std::vector<int32_t> s2 = s;
          kt->att_softmax(s2.data(), n, c256, s2.data(), p2.data());  // in place, as the kernel calls it
          CHECK(p1 == p2);
          CHECK(*std::max_element(p1.begin(), p1.end()) >= 1);
        }
    }
  }
}

namespace {

fb::NodeOptionsUnion attention_opts(float scale, bool k_transposed) {
  fb::NodeOptionsUnion u;
  auto* o = new fb::AttentionOptionsT;
  o->scale = scale;
  o->k_transposed = k_transposed;
  u.type = fb::NodeOptions::AttentionOptions;
  u.value = o;
  return u;
}

}  // namespace

TEST_CASE("int8 Attention on the CPU backend is bit-exact with the reference") {
  std::mt19937 rng(91);
  // With a bias (b.rank > 0): a constant int32 tensor of values in +-b_range (score-grid steps),
  // broadcast to the logits; the extreme-bytes variant puts every value at +-b_range.
  struct Case {
    Shape q, k, v, y;
    bool kt;
    float s_q, s_k, scale;
    int z_q, z_k, z_v;
    const char* what;
    Shape b = {};
    int32_t b_range = 0;
  };
  const Case cases[] = {
      {Shape{2, 3, 17, 16}, Shape{2, 3, 19, 16}, Shape{2, 3, 19, 16}, Shape{2, 3, 17, 16}, false, 0.03f, 0.02f, 0.25f, 3, -7, 0, "D 16, Lk 19"},
      {Shape{1, 3, 40, 64}, Shape{1, 3, 64, 50}, Shape{1, 3, 50, 64}, Shape{1, 3, 40, 64}, true, 0.02f, 0.02f, 0.125f, -5, 9, 4, "D 64, K^T"},
      {Shape{1, 2, 33, 64}, Shape{1, 2, 45, 64}, Shape{1, 2, 45, 64}, Shape{1, 2, 33, 64}, false, 0.02f, 0.03f, 0.125f, 0, 0, 0, "D 64"},
      {Shape{2, 9, 7}, Shape{2, 11, 7}, Shape{2, 11, 5}, Shape{2, 9, 5}, false, 0.05f, 0.04f, 0.37f, 10, -20, 30, "odd D 7, Dv 5"},
      {Shape{2, 9, 7}, Shape{2, 7, 11}, Shape{2, 11, 5}, Shape{2, 9, 5}, true, 0.05f, 0.04f, 0.37f, 10, -20, 30, "odd D, K^T"},
      {Shape{2, 3, 10, 8}, Shape{3, 12, 8}, Shape{2, 1, 12, 8}, Shape{2, 3, 10, 8}, false, 0.04f, 0.04f, 0.35f, 1, 2, 3, "broadcast batch"},
      {Shape{1, 1, 300, 24}, Shape{1, 1, 300, 24}, Shape{1, 1, 300, 40}, Shape{1, 1, 300, 40}, false, 0.02f, 0.03f, 0.2f, -3, 5, -9, "several row blocks"},
      {Shape{1, 2, 12, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 12, 16}, false, 1.0f, 1.0f, 1.0f, 0, 0, 0, "huge logits (one-hot)"},
      {Shape{1, 2, 12, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 12, 16}, false, 1e-5f, 1e-5f, 0.1f, 0, 0, 0, "tiny logits (uniform)"},
      {Shape{1, 2, 12, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 13, 16}, Shape{1, 2, 12, 16}, false, 0.01f, 0.01f, 0.5f, -128, 127, -128, "zero points at the ends"},
      {Shape{1, 1, 5, 3}, Shape{1, 1, 1, 3}, Shape{1, 1, 1, 3}, Shape{1, 1, 5, 3}, false, 0.1f, 0.1f, 0.5f, 0, 0, 0, "one key"},
      {Shape{2, 3, 17, 16}, Shape{2, 3, 19, 16}, Shape{2, 3, 19, 16}, Shape{2, 3, 17, 16}, false, 0.03f, 0.02f, 0.25f, 3, -7, 0,
       "bias [H, Lq, Lk]", Shape{3, 17, 19}, 20000},
      {Shape{1, 3, 40, 64}, Shape{1, 3, 64, 50}, Shape{1, 3, 50, 64}, Shape{1, 3, 40, 64}, true, 0.02f, 0.02f, 0.125f, -5, 9, 4,
       "bias [1, H, Lq, Lk], K^T", Shape{1, 3, 40, 50}, 20000},
      {Shape{1, 8, 49, 32}, Shape{1, 8, 32, 49}, Shape{1, 8, 49, 128}, Shape{1, 8, 49, 128}, true, 0.03f, 0.03f, 0.1768f, 2, -3, 1,
       "EfficientFormer-L1 shapes, bias [H, N, N]", Shape{8, 49, 49}, 30000},
      {Shape{1, 2, 33, 64}, Shape{1, 2, 45, 64}, Shape{1, 2, 45, 64}, Shape{1, 2, 33, 64}, false, 0.02f, 0.03f, 0.125f, 0, 0, 0,
       "bias large against the scores", Shape{2, 33, 45}, 50000000},
      {Shape{2, 3, 10, 8}, Shape{3, 12, 8}, Shape{2, 1, 12, 8}, Shape{2, 3, 10, 8}, false, 0.04f, 0.04f, 0.35f, 1, 2, 3,
       "broadcast batch, bias [Lk]", Shape{12}, 5000},
      {Shape{2, 3, 10, 8}, Shape{3, 12, 8}, Shape{2, 1, 12, 8}, Shape{2, 3, 10, 8}, false, 0.04f, 0.04f, 0.35f, 1, 2, 3,
       "broadcast batch, bias [2, 1, Lq, 1]", Shape{2, 1, 10, 1}, 5000},
      {Shape{1, 1, 300, 24}, Shape{1, 1, 300, 24}, Shape{1, 1, 300, 40}, Shape{1, 1, 300, 40}, false, 0.02f, 0.03f, 0.2f, -3, 5, -9,
       "several row blocks, bias [Lq, Lk]", Shape{300, 300}, 20000},
      // the exact-int32 bounds of attention_q8.h: the largest biased depth, bias at +-2^29
      {Shape{1, 1, 9, 8192}, Shape{1, 1, 10, 8192}, Shape{1, 1, 10, 8}, Shape{1, 1, 9, 8}, false, 1e-3f, 1e-3f, 0.01f, -128, 127, 0,
       "depth 8192, bias at the limit", Shape{9, 10}, ref::attq8::kMaxBias},
  };
  for (const Case& c : cases) {
    for (int variant = 0; variant < 2; ++variant) {  // 1: extreme bytes, Q all at z_q in the first rows (equal logits)
      QPtr q = act(rng, c.q, c.s_q, c.z_q), k = act(rng, c.k, c.s_k, c.z_k), v = act(rng, c.v, 0.03f, c.z_v);
      QPtr y = act(rng, c.y, 0.03f * (variant ? 0.5f : 0.8f), variant ? 20 : -4);
      if (variant) {
        for (auto* t : {q.get(), k.get(), v.get()})
          for (auto& byte : t->bytes) byte = static_cast<uint8_t>(rng() % 2 ? 0x80 : 0x7F);
        for (int64_t i = 0; i < c.q[c.q.rank - 1] * 2 && i < c.q.numel(); ++i) q->bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(static_cast<int8_t>(c.z_q));
      }
      QPtr b;
      if (c.b.rank) {
        b = std::make_unique<QTensor>();
        b->dtype = DType::Int32;
        b->shape = c.b;
        b->constant = true;
        b->bytes.resize(static_cast<size_t>(c.b.numel()) * 4);
        const uint32_t span = 2u * static_cast<uint32_t>(c.b_range) + 1;
        for (int64_t i = 0; i < c.b.numel(); ++i) {
          const int32_t x = variant ? (rng() % 2 ? c.b_range : -c.b_range) : static_cast<int32_t>(static_cast<int64_t>(rng() % span) - c.b_range);
          std::memcpy(b->bytes.data() + i * 4, &x, 4);
        }
      }
      check_node(OpType::Attention, attention_opts(c.scale, c.kt), {q.get(), k.get(), v.get(), b.get()}, *y,
                 std::string(c.what) + (variant ? " (extreme bytes)" : ""));
    }
  }
}

TEST_CASE("int8 Attention: a bias that is not constant, or beyond +-2^29, is left to the reference (which refuses the latter)") {
  std::mt19937 rng(92);
  const Shape sq{1, 2, 5, 8}, sb{2, 5, 6};
  QPtr q = act(rng, sq, 0.03f, 1), k = act(rng, Shape{1, 2, 6, 8}, 0.03f, -2), v = act(rng, Shape{1, 2, 6, 8}, 0.03f, 0);
  QPtr y = out8(sq, 0.02f, 0);
  auto b = std::make_unique<QTensor>();
  b->dtype = DType::Int32;
  b->shape = sb;
  b->bytes.assign(static_cast<size_t>(sb.numel()) * 4, 0);
  const fb::NodeOptionsUnion opts = attention_opts(0.35f, false);
  auto cpu_takes = [&](bool constant) {
    std::vector<QTensor*> ins = {q.get(), k.get(), v.get(), b.get(), y.get()};
    b->constant = constant;
    for (QTensor* t : ins) t->finish();
    std::vector<TensorRef> tensors;
    std::vector<uint8_t> is_const;
    for (QTensor* t : ins) tensors.push_back(t->ref), is_const.push_back(t->constant ? 1 : 0);
    const int32_t in_idx[4] = {0, 1, 2, 3}, out_idx = 4;
    NodeView nv;
    nv.name = "test";
    nv.op = OpType::Attention;
    nv.options = &opts;
    nv.inputs = in_idx;
    nv.outputs = std::span<const int32_t>(&out_idx, 1);
    std::vector<const TensorRef*> ip = {&tensors[0], &tensors[1], &tensors[2], &tensors[3]}, op_ = {&tensors[4]};
    auto th = cpu::Threads::create(1);
    REQUIRE(th.is_ok());
    cpu::Context ctx;
    ctx.num_threads = 1;
    ctx.threads = th.value().get();
    auto kr = cpu::create_kernel(ctx, nv, ip, op_, is_const);
    REQUIRE_MESSAGE(kr.is_ok(), kr.status().message());
    return kr.value() != nullptr;
  };
  auto ref_runs = [&] {
    const TensorRef* in_refs[4] = {&q->ref, &k->ref, &v->ref, &b->ref};
    const TensorRef* out_ref = &y->ref;
    ref::KernelContext kc;
    kc.node_name = "test";
    kc.op = OpType::Attention;
    kc.options = &opts;
    kc.inputs = in_refs;
    kc.outputs = {&out_ref, 1};
    return ref::run_node_once(kc);
  };
  CHECK(cpu_takes(true));
  CHECK_FALSE(cpu_takes(false));
  int32_t x = ref::attq8::kMaxBias;
  std::memcpy(b->bytes.data() + 8, &x, 4);
  CHECK(cpu_takes(true));
  CHECK(ref_runs().is_ok());
  x = -ref::attq8::kMaxBias - 1;
  std::memcpy(b->bytes.data() + 8, &x, 4);
  CHECK_FALSE(cpu_takes(true));
  Status s = ref_runs();
  CHECK_FALSE(s.is_ok());
  CHECK(s.message().find("beyond") != std::string::npos);
}
