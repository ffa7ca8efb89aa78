// Tern's own CPU kernels (backends/cpu/ops over backends/cpu/simd) through the op suite's
// harness: each case runs the node on the reference and, when the suite runs against the CPU
// backend (--tern-backend=cpu; CTest registers this binary once per micro-kernel variant through
// TERN_CPU_ISA), on the CPU backend too, comparing outputs. Each case also checks that the CPU
// kernel table really claims the node (a case the table left to the reference would compare the
// reference with itself). Shapes are chosen for the kernels' edges: GEMM tiles and their tails,
// vector-width tails, LMU's closed form and its recurrence, several threads' worth of tasks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>

#include "cpu/cpu_kernel.h"
#include "cpu/simd/isa.h"
#include "support/harness.h"

using namespace tern;
using namespace tern::test;

namespace {

// Runs the node through cpu::create_kernel directly with `num_threads` threads (the harness runs
// the backend with one), writing fresh outputs shaped as the reference's `want`. Returns false
// when the CPU kernel table leaves the node to the reference. Inputs marked in `constant` are
// constants, as weights are in a plan.
bool run_cpu_kernel(const NodeSpec& node, const std::vector<HostTensor>& want, const std::vector<bool>& constant,
                    int num_threads, std::vector<HostTensor>* got) {
  got->clear();
  for (const HostTensor& w : want) got->emplace_back(w.dtype, w.shape);
  std::vector<TensorRef> tensors;
  std::vector<int32_t> in_idx, out_idx;
  std::vector<uint8_t> is_const;
  tensors.reserve(node.inputs.size() + got->size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (!node.inputs[i]) {
      in_idx.push_back(-1);
      continue;
    }
    in_idx.push_back(static_cast<int32_t>(tensors.size()));
    tensors.push_back(const_cast<HostTensor*>(node.inputs[i])->ref());
    is_const.push_back(i < constant.size() && constant[i] ? 1 : 0);
  }
  for (HostTensor& o : *got) {
    out_idx.push_back(static_cast<int32_t>(tensors.size()));
    tensors.push_back(o.ref());
    is_const.push_back(0);
  }
  std::vector<const TensorRef*> ins, outp;
  for (int32_t i : in_idx) ins.push_back(i < 0 ? nullptr : &tensors[static_cast<size_t>(i)]);
  for (int32_t i : out_idx) outp.push_back(&tensors[static_cast<size_t>(i)]);
  NodeView v;
  v.name = "test";
  v.op = node.op;
  v.options = &node.options;
  v.inputs = in_idx;
  v.outputs = out_idx;
  auto threads = cpu::Threads::create(num_threads);
  REQUIRE(threads.is_ok());
  cpu::Context ctx;
  ctx.num_threads = num_threads;
  ctx.threads = threads.value().get();
  auto r = cpu::create_kernel(ctx, v, ins, outp, is_const);
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  if (!r.value()) return false;
  // Scratch as the backend gives it: 64-byte aligned, exactly scratch_bytes, NaN-filled.
  const size_t bytes = r.value()->scratch_bytes();
  std::vector<float> scratch((bytes + 3) / 4 + 16, NAN);
  void* p = scratch.data();
  size_t space = scratch.size() * 4;
  std::align(64, bytes, p, space);
  const Status st = r.value()->run(bytes ? p : nullptr);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  return true;
}

std::vector<HostTensor> run_claimed(const NodeSpec& node, const std::string& what) {
  CAPTURE(what);
  std::vector<HostTensor> outs = run_reference(node);
  REQUIRE(!outs.empty());
  std::vector<bool> constant = node.constant_inputs;
  if (constant.empty()) {
    constant.assign(node.inputs.size(), false);
    if (node.op == OpType::LayerNormalization || node.op == OpType::RMSNormalization)
      for (size_t i = 1; i < constant.size(); ++i) constant[i] = true;
  }
  // Three threads (whatever the machine has): the kernels' parallel splits and per-thread
  // scratch slices, which the one-thread harness run does not reach.
  std::vector<HostTensor> got;
  const bool claimed = run_cpu_kernel(node, outs, constant, 3, &got);
  CHECK_MESSAGE(claimed, "the CPU kernel table left this node to the reference: ", what);
  if (!claimed) return outs;
  const bool norm = node.op == OpType::LayerNormalization || node.op == OpType::RMSNormalization;
  for (size_t k = 0; k < outs.size(); ++k) {
    double mx = 0;
    for (int64_t i = 0; i < outs[k].numel(); ++i)
      if (std::isfinite(outs[k].f(i))) mx = std::max(mx, std::fabs(static_cast<double>(outs[k].f(i))));
    const double tol = norm ? 1e-3 : 1e-4;
    check_close(got[k], outs[k], tol, tol * mx, what + ", 3 threads, output " + std::to_string(k));
  }
  return outs;
}

// A channels-last Conv (one group, constant W and bias, Clip bounds for a fused Clip) on random
// data through run_claimed.
void run_conv_nhwc(std::mt19937& rng, const Shape& xs, const Shape& ws, const std::vector<int32_t>& strides,
                   const std::vector<int32_t>& pads, const std::vector<int32_t>& dilations, bool with_bias, fb::Activation act,
                   const char* what) {
  HostTensor x = random_f32(rng, xs), w = random_f32(rng, ws), bias = random_f32(rng, {ws[0]});
  fb::ConvOptionsT o;
  for (int i = 2; i < ws.rank; ++i) o.kernel_shape.push_back(static_cast<int32_t>(ws[i]));
  o.strides = strides;
  o.dilations = dilations;
  o.pads = pads;
  o.group = 1;
  o.channels_last = true;
  o.activation = act;
  o.activation_min = -0.5f;
  o.activation_max = 0.75f;
  NodeSpec n{OpType::Conv, make_options(o), {&x, &w, with_bias ? &bias : nullptr}};
  n.constant_inputs = {false, true, true};
  run_claimed(n, std::string(what) + " channels_last Conv " + x.shape.str() + " W " + w.shape.str());
}

}  // namespace

TEST_CASE("cpu kernels: the micro-kernel variant in use") {
  const std::string msg = std::string("cpu micro-kernels: ") + cpu::simd::active_isa_name() + " (" +
                          cpu::simd::kernels().gemm_name + ")";
  MESSAGE(msg);
  CHECK(std::string(cpu::simd::active_isa_name()).size() > 0);
}

TEST_CASE("cpu kernels: Softmax / LogSoftmax, last and inner axes, tails of every vector width") {
  std::mt19937 rng(101);
  for (int64_t n : {1, 5, 16, 17, 33, 100, 1000})
    for (int axis : {0, 1, 2}) {
      HostTensor x = random_f32(rng, {3, axis == 1 ? n : 4, axis == 2 ? n : 3}, -8.f, 8.f);
      if (axis == 0) x = random_f32(rng, {n, 3, 5}, -8.f, 8.f);
      fb::AxisOptionsT o;
      o.axis = axis;
      run_claimed({OpType::Softmax, make_options(o), {&x}}, "Softmax axis " + std::to_string(axis) + " " + x.shape.str());
      if (axis == 2)
        run_claimed({OpType::LogSoftmax, make_options(o), {&x}}, "LogSoftmax " + x.shape.str());
    }
}

TEST_CASE("cpu kernels: LayerNormalization and RMSNormalization rows of odd lengths") {
  std::mt19937 rng(102);
  for (int64_t n : {1, 7, 16, 31, 64, 257, 768}) {
    HostTensor x = random_f32(rng, {3, 5, n}, -3.f, 3.f);
    for (int64_t i = 0; i < x.numel(); i += 2) x.data<float>()[i] += 50.0f;
    HostTensor scale = random_f32(rng, {n}), bias = random_f32(rng, {n});
    fb::NormOptionsT o;
    o.axis = 2;
    o.epsilon = 1e-5f;
    run_claimed({OpType::LayerNormalization, make_options(o), {&x, &scale, &bias}, 3}, "LayerNorm " + x.shape.str());
    run_claimed({OpType::LayerNormalization, make_options(o), {&x, &scale}}, "LayerNorm without B " + x.shape.str());
    run_claimed({OpType::RMSNormalization, make_options(o), {&x, &scale}}, "RMSNorm " + x.shape.str());
  }
}

TEST_CASE("cpu kernels: Activation, every kind, lengths around the vector widths") {
  std::mt19937 rng(103);
  using A = fb::Activation;
  for (A kind : {A::Relu, A::Clip, A::Sigmoid, A::SiLU, A::GELU, A::GELUTanh, A::HardSwish, A::HardSigmoid, A::Tanh})
    for (int64_t n : {3, 15, 17, 4099, 10007}) {
      HostTensor x = random_f32(rng, {n}, -12.f, 12.f);
      fb::ActivationOptionsT o;
      o.activation = kind;
      o.activation_min = kind == A::HardSigmoid ? 0.2f : -1.5f;
      o.activation_max = kind == A::HardSigmoid ? 0.5f : 2.5f;
      run_claimed({OpType::Activation, make_options(o), {&x}},
                  std::string("Activation ") + fb::EnumNameActivation(kind) + " n " + std::to_string(n));
    }
}

TEST_CASE("cpu kernels: batched and broadcast MatMul (activations as B), tails of the GEMM tile, bias + activation") {
  std::mt19937 rng(104);
  struct Case {
    Shape a, b;
  };
  const Case cases[] = {
      {{2, 3, 13, 37}, {2, 3, 37, 29}},  // attention-like, odd sizes
      {{4, 1, 5, 64}, {1, 3, 64, 33}},   // batch dims broadcast both ways
      {{97, 300}, {300, 70}},            // one matrix, k past one block
      {{2, 7, 16}, {16}},                // B a vector
      {{16}, {3, 16, 9}},                // A a vector
      {{1, 12, 64}, {12, 64, 12}},       // batch broadcast of A over B's
  };
  for (const Case& c : cases) {
    HostTensor a = random_f32(rng, c.a), b = random_f32(rng, c.b);
    run_claimed({OpType::MatMul, make_options(fb::MatMulOptionsT{}), {&a, &b}}, "MatMul " + a.shape.str() + " x " + b.shape.str());
  }
  HostTensor a = random_f32(rng, {3, 19, 23}), b = random_f32(rng, {3, 23, 41}), bias = random_f32(rng, {41});
  fb::MatMulOptionsT o;
  o.activation = fb::Activation::GELU;
  run_claimed({OpType::MatMul, make_options(o), {&a, &b, &bias}}, "MatMul + bias + GELU");
  HostTensor w = random_f32(rng, {23, 41});
  NodeSpec cw{OpType::MatMul, make_options(fb::MatMulOptionsT{}), {&a, &w}};
  cw.constant_inputs = {false, true};
  run_claimed(cw, "MatMul with a constant B");
}

TEST_CASE("cpu kernels: fully connected on Tern's GEMM: constant-B MatMul (batch rows flattened) and pointwise channels-last Conv") {
  std::mt19937 rng(105);
  // Constant B: batches of A flattened into one row range; one row block of 49 rows split by
  // columns (7x7 feature map); bias + activation per column block.
  struct Case {
    Shape a, b;
    fb::Activation act;
  };
  const Case cases[] = {{{2, 5, 49, 64}, {64, 100}, fb::Activation::SiLU},
                        {{1, 49, 96}, {96, 200}, fb::Activation::None},
                        {{197, 192}, {192, 70}, fb::Activation::GELU},
                        {{3, 1, 8}, {8, 5}, fb::Activation::Relu},
                        // 49 rows against a wide weight, enough work for every thread: split
                        // by column blocks (plan_tasks), each thread one share of B
                        {{1, 49, 448}, {448, 640}, fb::Activation::GELU}};
  for (const Case& c : cases) {
    HostTensor a = random_f32(rng, c.a), w = random_f32(rng, c.b), bias = random_f32(rng, {c.b[1]});
    fb::MatMulOptionsT o;
    o.activation = c.act;
    NodeSpec n{OpType::MatMul, make_options(o), {&a, &w, &bias}};
    n.constant_inputs = {false, true, true};
    run_claimed(n, "MatMul " + a.shape.str() + " x constant " + w.shape.str() + " + bias");
  }
  // Pointwise Conv on [N, spatial..., C]: 2-D and 1-D, with and without bias, fused activations.
  struct ConvCase {
    Shape x, w;
    bool bias;
    fb::Activation act;
  };
  const ConvCase convs[] = {{{1, 7, 7, 96}, {200, 96, 1, 1}, true, fb::Activation::GELU},
                            {{2, 5, 6, 33}, {17, 33, 1, 1}, false, fb::Activation::None},
                            {{1, 16, 16, 24}, {48, 24, 1, 1}, true, fb::Activation::Clip},
                            {{2, 9, 40}, {30, 40, 1}, true, fb::Activation::HardSwish}};
  for (const ConvCase& c : convs) {
    const size_t spatial = static_cast<size_t>(c.x.rank - 2);
    run_conv_nhwc(rng, c.x, c.w, std::vector<int32_t>(spatial, 1), std::vector<int32_t>(2 * spatial, 0),
                  std::vector<int32_t>(spatial, 1), c.bias, c.act, "pointwise");
  }
}

TEST_CASE("cpu kernels: k x k channels-last Conv on Tern's GEMM (im2col blocks): strides, pads, dilations, edges") {
  std::mt19937 rng(107);
  struct Case {
    Shape x, w;
    std::vector<int32_t> strides, pads, dilations;
    bool bias;
    fb::Activation act;
  };
  // Pads on every side (asymmetric too), stride 2 downsampling, dilation along x (no contiguous
  // tap runs) and y, a kernel wider than the padded image's interior, several images, K not a
  // multiple of any vector width, M across the GEMM's column tail (the kernel takes M >= 64),
  // enough rows for several blocks and threads.
  const Case cases[] = {{{1, 14, 14, 48}, {96, 48, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, fb::Activation::GELU},
                        {{2, 9, 11, 17}, {67, 17, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, false, fb::Activation::None},
                        {{1, 12, 10, 8}, {64, 8, 5, 3}, {1, 2}, {2, 0, 1, 1}, {1, 2}, true, fb::Activation::Relu},
                        {{1, 8, 8, 16}, {96, 16, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, true, fb::Activation::Clip},
                        {{1, 5, 4, 12}, {70, 12, 7, 7}, {1, 1}, {3, 3, 3, 3}, {1, 1}, true, fb::Activation::SiLU},
                        {{1, 56, 56, 24}, {80, 24, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, fb::Activation::HardSwish}};
  for (const Case& c : cases) {
    run_conv_nhwc(rng, c.x, c.w, c.strides, c.pads, c.dilations, c.bias, c.act, "k x k");
  }
}

TEST_CASE("cpu kernels: Attention, heads broadcast, K transposed or not, bias broadcast, long keys") {
  std::mt19937 rng(105);
  struct Case {
    Shape q, k, v, bias;
    bool kt;
    float scale;
  };
  const Case cases[] = {
      {{2, 3, 17, 8}, {2, 3, 23, 8}, {2, 3, 23, 5}, {}, false, 0.35f},
      {{1, 4, 49, 32}, {1, 4, 32, 49}, {1, 4, 49, 32}, {1, 1, 49, 49}, true, 0.176f},
      {{2, 2, 5, 16}, {2, 1, 700, 16}, {2, 1, 700, 7}, {5, 1}, false, 0.25f},
      {{3, 40, 24}, {3, 1200, 24}, {3, 1200, 24}, {3, 40, 1200}, false, -0.2f},
      {{1, 1, 8}, {1, 1, 8}, {1, 1, 3}, {}, false, 1.0f},
  };
  for (const Case& c : cases) {
    HostTensor q = random_f32(rng, c.q, -2.f, 2.f), k = random_f32(rng, c.k, -2.f, 2.f), v = random_f32(rng, c.v);
    HostTensor bias = c.bias.rank ? random_f32(rng, c.bias, -3.f, 3.f) : HostTensor();
    fb::AttentionOptionsT o;
    o.scale = c.scale;
    o.k_transposed = c.kt;
    run_claimed({OpType::Attention, make_options(o), {&q, &k, &v, c.bias.rank ? &bias : nullptr}},
                "Attention Q " + q.shape.str() + " K " + k.shape.str() + " V " + v.shape.str() +
                    (c.bias.rank ? " bias " + bias.shape.str() : ""));
  }
}

TEST_CASE("cpu kernels: LMU closed form (Lt <= 2n) and recurrence (m0, long L), one and many channels") {
  std::mt19937 rng(106);
  struct Case {
    int64_t b, L, c, n;
    bool m0;
    int outs;
  };
  const Case cases[] = {
      {2, 40, 1, 32, false, 2},   // lmuformer's form: one channel, closed form for all steps
      {2, 100, 1, 16, false, 2},  // closed form for 32 steps, then the recurrence
      {1, 37, 5, 13, false, 2},   // several channels, odd order
      {3, 21, 1, 9, true, 2},     // m0: recurrence, batch folded into rows
      {2, 19, 50, 24, true, 2},   // m0, channel blocks with a tail
      {2, 29, 3, 11, false, 1},   // m only
  };
  for (const Case& c : cases) {
    HostTensor u = random_f32(rng, {c.b, c.L, c.c});
    HostTensor A = random_f32(rng, {c.n, c.n}, -0.9f / float(c.n), 0.9f / float(c.n));
    for (int64_t i = 0; i < c.n; ++i) A.data<float>()[i * c.n + i] += 0.05f;
    HostTensor B = random_f32(rng, {c.n});
    HostTensor m0 = random_f32(rng, {c.b, c.c, c.n});
    NodeSpec node{OpType::LMU, {}, {&u, &A, &B, c.m0 ? &m0 : nullptr}, c.outs};
    node.constant_inputs = {false, true, true, false};
    run_claimed(node, "LMU u " + u.shape.str() + " order " + std::to_string(c.n) + (c.m0 ? " m0" : ""));
  }
  // The LMU's own (A, B) from the Legendre construction, theta = 128, order 64: stable but slowly
  // decaying, the case where the closed form's impulse response matters most.
  const int64_t n = 64, L = 128;
  HostTensor A(DType::Float32, {n, n}), B(DType::Float32, {n});
  {
    // zero-order hold of the continuous (A, B) by a truncated series of exp(M dt), in double
    std::vector<double> ac(static_cast<size_t>(n * n)), bc(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const double r = (2.0 * double(i) + 1.0) / 128.0;
      for (int64_t j = 0; j < n; ++j) ac[static_cast<size_t>(i * n + j)] = (i < j ? -1.0 : ((i - j + 1) % 2 ? -1.0 : 1.0)) * r;
      bc[static_cast<size_t>(i)] = (i % 2 ? -1.0 : 1.0) * r;
    }
    // E = sum_k (M^k / k!) with M = [[A, B], [0, 0]]: A_d = sum A^k/k!, B_d = sum A^(k-1)/k! B
    std::vector<double> term(static_cast<size_t>(n * n), 0.0), ad(static_cast<size_t>(n * n), 0.0), tb(bc), bd(bc);
    for (int64_t i = 0; i < n; ++i) term[static_cast<size_t>(i * n + i)] = ad[static_cast<size_t>(i * n + i)] = 1.0;
    for (int k = 1; k < 40; ++k) {
      std::vector<double> nt(static_cast<size_t>(n * n), 0.0), nb(static_cast<size_t>(n), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t p = 0; p < n; ++p) s += term[static_cast<size_t>(i * n + p)] * ac[static_cast<size_t>(p * n + j)];
          nt[static_cast<size_t>(i * n + j)] = s / k;
        }
      for (int64_t i = 0; i < n; ++i) {
        double s = 0;
        for (int64_t p = 0; p < n; ++p) s += ac[static_cast<size_t>(i * n + p)] * tb[static_cast<size_t>(p)];
        nb[static_cast<size_t>(i)] = s / (k + 1);
      }
      term = nt;
      tb = nb;
      for (size_t i = 0; i < ad.size(); ++i) ad[i] += term[i];
      for (size_t i = 0; i < bd.size(); ++i) bd[i] += tb[i];
    }
    for (size_t i = 0; i < ad.size(); ++i) A.data<float>()[i] = static_cast<float>(ad[i]);
    for (size_t i = 0; i < bd.size(); ++i) B.data<float>()[i] = static_cast<float>(bd[i]);
  }
  HostTensor u = random_f32(rng, {2, L, 1});
  NodeSpec node{OpType::LMU, {}, {&u, &A, &B, nullptr}, 2};
  node.constant_inputs = {false, true, true, false};
  run_claimed(node, "LMU with Legendre (A, B), order 64, theta 128");
}

TEST_CASE("cpu kernels: LIF spikes exactly 0/1, hard and soft reset, time axis first, middle and last") {
  std::mt19937 rng(107);
  for (bool soft : {false, true})
    for (int form = 0; form < 4; ++form) {
      // time axis inner, outer, last (a [batch, channels, T] conv layout: gathered blocks), and
      // next to last with a short inner extent
      const Shape xs[4] = {Shape{2, 33, 37}, Shape{33, 2, 300}, Shape{2, 131, 29}, Shape{5, 33, 3}};
      const Shape vs[4] = {Shape{2, 37}, Shape{2, 300}, Shape{2, 131}, Shape{5, 3}};
      const int axes[4] = {1, 0, 2, 1};
      const int axis = axes[form];
      HostTensor x = random_f32(rng, xs[form], -1.f, 3.f);
      HostTensor v0 = random_f32(rng, vs[form], 0.f, 1.f);
      fb::LIFOptionsT o;
      o.soft_reset = soft;
      o.time_axis = axis;
      o.v_threshold = 0.5f;
      for (bool with_v0 : {false, true}) {
        auto outs = run_claimed({OpType::LIF, make_options(o), {&x, with_v0 ? &v0 : nullptr}, 2},
                                "LIF " + x.shape.str() + " axis " + std::to_string(axis) + (soft ? " soft" : " hard"));
        for (int64_t i = 0; i < outs[0].numel(); ++i) REQUIRE((outs[0].f(i) == 0.0f || outs[0].f(i) == 1.0f));
      }
    }
}

TEST_CASE("cpu kernels: SelectiveScan with every optional input, state sizes around the vector widths") {
  std::mt19937 rng(108);
  for (int64_t n : {1, 4, 16, 17})
    for (int64_t d : {3, 64, 130}) {
      const int64_t b = 2, L = 9;
      HostTensor u = random_f32(rng, {b, L, d}), delta = random_f32(rng, {b, L, d}, -2.f, 2.f);
      HostTensor A = random_f32(rng, {d, n}, -2.f, -0.1f), B = random_f32(rng, {b, L, n}), C = random_f32(rng, {b, L, n});
      HostTensor D = random_f32(rng, {d}), z = random_f32(rng, {b, L, d}, -3.f, 3.f), bias = random_f32(rng, {d}, -.5f, .5f);
      HostTensor h0 = random_f32(rng, {b, d, n});
      const bool all = (n + d) % 2 == 0;
      fb::SelectiveScanOptionsT o;
      o.delta_softplus = true;
      run_claimed({OpType::SelectiveScan, make_options(o),
                   {&u, &delta, &A, &B, &C, all ? &D : nullptr, all ? &z : nullptr, all ? &bias : nullptr, all ? &h0 : nullptr},
                   2},
                  "SelectiveScan d " + std::to_string(d) + " n " + std::to_string(n) + (all ? " with D z bias h0" : ""));
    }
}
