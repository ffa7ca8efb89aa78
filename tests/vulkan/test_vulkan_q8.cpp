// The Vulkan backend's int8 kernels (backends/vulkan/ops/q8_*.cpp, shaders/q8_*.comp) must be
// BIT-EXACT with the reference int8 kernels (backends/reference/ops/*_q8.cpp), like the CPU ones
// (tests/cpu/test_cpu_q8.cpp, whose cases this file follows): every int8 node runs through
// ref::run_node_once and as a one-node Vulkan partition on the same tensors, and the output bytes
// must be identical. Each case also checks that the Vulkan backend's `supports` claims the node
// (else it would fall back to the CPU in a plan) and that no validation message appeared. The
// data-movement ops of int8 plans (Reshape, Transpose, Slice, Concat, Split, Expand, Gather,
// MaxPool) run on int8 tensors through the 8-bit variants and are checked the same way.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/quant.h"
#include "reference/kernel.h"
#include "support/harness.h"
#include "support/q8_tensors.h"
#include "vulkan/vk_context.h"
#include "vulkan/vulkan_backend.h"

using namespace tern;
using namespace tern::test::q8;

namespace {

struct EnableValidation {
  EnableValidation() {
    setenv("TERN_VULKAN_VALIDATION", "1", 0);
    setenv("XDG_RUNTIME_DIR", "/tmp", 0);
  }
} g_enable_validation;

Backend& vulkan() {
  static std::unique_ptr<Backend> b = make_vulkan_backend();
  return *b;
}

// All bytes -128 or 127 (the accumulators' extremes).
QPtr extreme(std::mt19937& rng, Shape s, float scale, int z) {
  QPtr t = act(rng, s, scale, z);
  for (auto& v : t->bytes) v = static_cast<uint8_t>(rng() % 2 ? 0x80 : 0x7f);
  return t;
}

QPtr tensor_of(DType dt, Shape s) {
  auto t = std::make_unique<QTensor>();
  t->dtype = dt;
  t->shape = s;
  t->bytes.assign(static_cast<size_t>(s.numel()) * dtype_size(dt), 0);
  return t;
}

// Runs the node on the reference and as a one-node Vulkan partition; the output bytes must be
// identical (max_steps > 0: int8 outputs may differ by that many quantization steps; float outputs
// of DequantizeLinear are compared bit for bit either way).
void check_node(OpType op, const fb::NodeOptionsUnion& opts, std::vector<QTensor*> ins, QTensor& y, const std::string& what,
                int max_steps = 0) {
  CAPTURE(what);
  REQUIRE_MESSAGE(vulkan().is_available(), "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
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

  // The compiler's question first: would this node be placed on Vulkan?
  std::vector<TensorInfo> infos;
  for (QTensor* t : ins) infos.push_back(t ? TensorInfo{t->dtype, t->shape, nullptr} : TensorInfo{});
  std::vector<const TensorInfo*> in_info;
  for (size_t i = 0; i < ins.size(); ++i) in_info.push_back(ins[i] ? &infos[i] : nullptr);
  const TensorInfo out_info{y.dtype, y.shape, nullptr};
  const TensorInfo* out_info_p = &out_info;
  NodeQuery q;
  q.op = op;
  q.options = &opts;
  q.inputs = in_info;
  q.outputs = {&out_info_p, 1};
  std::string why;
  REQUIRE_MESSAGE(vulkan().supports(q, &why), "the Vulkan backend declines the int8 node: " << why);

  std::fill(y.bytes.begin(), y.bytes.end(), 0x5A);
  std::vector<TensorRef> tensors;
  std::vector<uint8_t> is_const;
  std::vector<int32_t> in_idx, graph_inputs;
  for (QTensor* t : ins) {
    if (!t) {
      in_idx.push_back(-1);
      continue;
    }
    in_idx.push_back(static_cast<int32_t>(tensors.size()));
    if (!t->constant) graph_inputs.push_back(static_cast<int32_t>(tensors.size()));
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
  Subgraph g;
  g.nodes = std::span<const NodeView>(&v, 1);
  g.tensors = tensors;
  g.is_constant = is_const;
  g.inputs = graph_inputs;
  g.outputs = std::span<const int32_t>(&out_idx, 1);
  auto ve = vulkan().prepare(g, {});
  REQUIRE_MESSAGE(ve.is_ok(), ve.status().message());
  for (int rep = 0; rep < 2; ++rep) {  // a replay of the recorded command buffer gives the same bytes
    Status rs = ve.value()->execute();
    REQUIRE_MESSAGE(rs.is_ok(), rs.message());
    int bad = 0, worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i] == y.bytes[i]) continue;
      if (y.dtype == DType::Int8) {
        const int d = std::abs(int(static_cast<int8_t>(y.bytes[i])) - int(static_cast<int8_t>(want[i])));
        worst = std::max(worst, d);
        if (d <= max_steps) continue;
      }
      if (++bad <= 5)
        FAIL_CHECK("byte " << i << ": vulkan " << int(static_cast<int8_t>(y.bytes[i])) << ", reference "
                           << int(static_cast<int8_t>(want[i])));
    }
    CHECK(bad == 0);
    if (max_steps) MESSAGE(what << ": largest difference " << worst << " steps (allowed " << max_steps << ")");
  }
  CHECK(vk::counters().validation_messages == 0);
}

fb::NodeOptionsUnion conv_opts(int rank, int k, int s, int d, int p, int group, fb::Activation a = fb::Activation::None,
                               float amin = 0, float amax = 0) {
  const auto n = static_cast<size_t>(rank);
  return tern::test::conv_options(std::vector<int32_t>(n, k), std::vector<int32_t>(n, s), std::vector<int32_t>(n, d),
                                  std::vector<int32_t>(2 * n, p), group, a, amin, amax);
}

template <typename T> fb::NodeOptionsUnion opts_of(T value) { return tern::test::make_options(std::move(value)); }

}  // namespace

TEST_CASE("vulkan int8 Conv is bit-exact with the reference (pointwise, groups, depthwise, 1-D, 3-D, fused bounds)") {
  std::mt19937 rng(7);
  struct Case {
    int64_t n, c, h, w, m, k;
    int group, stride, pad, dil;
    fb::Activation act;
    bool per_channel;
    const char* name;
  } cases[] = {
      {1, 3, 9, 11, 8, 3, 1, 1, 1, 1, fb::Activation::None, true, "3x3 pad 1"},
      {2, 5, 13, 7, 19, 3, 1, 2, 1, 1, fb::Activation::Relu, true, "stride 2 relu, odd channels"},
      {2, 4, 10, 7, 6, 3, 2, 2, 1, 1, fb::Activation::Relu, true, "grouped"},
      {1, 8, 7, 9, 8, 3, 8, 1, 1, 1, fb::Activation::None, true, "depthwise"},
      {2, 6, 8, 8, 12, 3, 6, 2, 1, 1, fb::Activation::Clip, true, "depthwise multiplier 2 stride 2 clip"},
      {1, 7, 15, 15, 7, 5, 7, 1, 2, 1, fb::Activation::None, false, "depthwise 5x5 per-tensor weights (zero point 3)"},
      {1, 5, 6, 6, 7, 1, 1, 1, 0, 1, fb::Activation::None, true, "pointwise"},
      {2, 37, 9, 11, 45, 1, 1, 1, 0, 1, fb::Activation::Clip, false, "pointwise per-tensor weights clip"},
      {1, 9, 5, 6, 33, 1, 1, 2, 0, 1, fb::Activation::None, true, "1x1 stride 2"},
      {1, 3, 12, 12, 4, 3, 1, 1, 2, 2, fb::Activation::Relu, true, "dilated"},
      {1, 24, 28, 28, 40, 3, 1, 1, 1, 1, fb::Activation::Relu, true, "larger"},
  };
  for (const Case& cs : cases) {
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
  {
    // Extreme operands and channel multipliers from 2^-40 (denormalized Q31, shift 31) to 2^8
    // (negative shift: results saturate): every path of the shader's 64-bit requantization.
    QPtr x = extreme(rng, Shape{1, 64, 6, 6}, 0.5f, 127);
    QPtr w = weights(rng, Shape{16, 64, 3, 3}, 0, true, 0, 1e-12f, 64.f);
    QPtr b = bias32(rng, 16, 1 << 24);
    QPtr y = out8(Shape{1, 16, 6, 6}, 0.25f, -3);
    check_node(OpType::Conv, conv_opts(2, 3, 1, 1, 1, 1), {x.get(), w.get(), b.get()}, *y, "extreme operands and multipliers");
  }
}

TEST_CASE("vulkan int8 Gemm and MatMul are bit-exact with the reference") {
  std::mt19937 rng(8);
  const int64_t dims[][3] = {{1, 10, 64}, {5, 9, 17}, {13, 33, 31}, {3, 257, 100}, {40, 100, 64}};
  int idx = 0;
  for (const auto& d : dims)
    for (int v = 0; v < 4; ++v, ++idx) {
      const int64_t m = d[0], n = d[1], k = d[2];
      const bool ta = v == 3, tb = v & 1, per_channel = v != 2;
      QPtr a = act(rng, ta ? Shape{k, m} : Shape{m, k}, 0.05f, static_cast<int>(rng() % 256) - 128);
      QPtr b = weights(rng, tb ? Shape{n, k} : Shape{k, n}, tb ? 0 : 1, per_channel, per_channel ? 0 : -5);
      QPtr c = v == 1 ? bias32(rng, 1) : v == 2 ? nullptr : bias32(rng, n);
      QPtr y = out8(Shape{m, n}, 0.08f, static_cast<int>(rng() % 100) - 50);
      fb::GemmOptionsT o;
      o.trans_a = ta;
      o.trans_b = tb;
      o.activation = v == 0 ? fb::Activation::Relu : v == 3 ? fb::Activation::Clip : fb::Activation::None;
      o.activation_min = -0.3f;
      o.activation_max = 0.9f;
      check_node(OpType::Gemm, opts_of(o), {a.get(), b.get(), c.get()}, *y, "gemm " + std::to_string(idx));
    }
  {
    // Extreme operands, multipliers 2^-40 .. 2^8 per column, long K.
    QPtr a = extreme(rng, Shape{7, 1031}, 1.f, -128);
    QPtr b = weights(rng, Shape{1031, 19}, 1, true, 0, 1e-12f, 64.f);
    QPtr c = bias32(rng, 19, 1 << 28);
    QPtr y = out8(Shape{7, 19}, 0.5f, 9);
    check_node(OpType::Gemm, opts_of(fb::GemmOptionsT{}), {a.get(), b.get(), c.get()}, *y, "gemm extremes");
  }
  auto mm_opts = [](fb::Activation a = fb::Activation::None) {
    fb::MatMulOptionsT o;
    o.activation = a;
    return opts_of(o);
  };
  {
    QPtr a = act(rng, Shape{2, 3, 6, 10}, 0.05f, 9);
    QPtr b = weights(rng, Shape{10, 7}, 1, true);
    QPtr c = bias32(rng, 7);
    QPtr y = out8(Shape{2, 3, 6, 7}, 0.1f, 3);
    check_node(OpType::MatMul, mm_opts(fb::Activation::Relu), {a.get(), b.get(), c.get()}, *y, "matmul weights");
  }
  {
    QPtr a = act(rng, Shape{2, 4, 5, 8}, 0.05f, -17);
    QPtr b = act(rng, Shape{4, 8, 6}, 0.03f, 41);
    QPtr y = out8(Shape{2, 4, 5, 6}, 0.2f, -3);
    check_node(OpType::MatMul, mm_opts(), {a.get(), b.get()}, *y, "matmul activations broadcast");
  }
  {
    QPtr a = act(rng, Shape{3, 65, 48}, 0.05f, 100);
    QPtr b = act(rng, Shape{3, 48, 65}, 0.03f, -128);
    QPtr y = out8(Shape{3, 65, 65}, 0.5f, 0);
    check_node(OpType::MatMul, mm_opts(), {a.get(), b.get()}, *y, "matmul activations large");
  }
  {
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

TEST_CASE("vulkan int8 QuantizeLinear / DequantizeLinear, Add / Sub / Mul are bit-exact with the reference") {
  std::mt19937 rng(9);
  fb::NodeOptionsUnion none;
  {
    // Float -> int8: ties (x = (q + 0.5) scale), NaN, infinities, values far outside the range.
    const float scale = 0.0371f;
    for (int64_t n : {1, 7, 33, 1000, 70001}) {
      QPtr x = tensor_of(DType::Float32, Shape{n});
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
        QPtr f = tensor_of(DType::Float32, Shape{n});
        check_node(OpType::DequantizeLinear, none, {y.get()}, *f, "dequantize n=" + std::to_string(n));
      }
    }
    // Per channel (axis 1 of [2, 5, 7]).
    QPtr x = tensor_of(DType::Float32, Shape{2, 5, 7});
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    for (int64_t i = 0; i < x->shape.numel(); ++i) {
      float v = u(rng);
      std::memcpy(x->bytes.data() + i * 4, &v, 4);
    }
    QPtr y = out8(Shape{2, 5, 7}, 0.f, 0);
    y->scale = {0.01f, 0.02f, 0.03f, 0.05f, 0.1f};
    y->zp = {0, -5, 7, 100, -128};
    y->axis = 1;
    check_node(OpType::QuantizeLinear, none, {x.get()}, *y, "quantize per channel");
    QPtr f = tensor_of(DType::Float32, Shape{2, 5, 7});
    check_node(OpType::DequantizeLinear, none, {y.get()}, *f, "dequantize per channel");
  }
  for (OpType op : {OpType::Add, OpType::Sub, OpType::Mul}) {
    const std::string name = op == OpType::Add ? "add" : op == OpType::Sub ? "sub" : "mul";
    const Shape shapes[][3] = {{Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5}, Shape{2, 3, 4, 5}},
                               {Shape{70000}, Shape{70000}, Shape{70000}},
                               {Shape{3, 17}, Shape{1}, Shape{3, 17}},
                               {Shape{1}, Shape{3, 17}, Shape{3, 17}},
                               {Shape{2, 3, 4, 5}, Shape{3, 1, 5}, Shape{2, 3, 4, 5}}};
    for (const auto& s : shapes) {
      QPtr a = act(rng, s[0], 0.04f, static_cast<int>(rng() % 256) - 128);
      QPtr b = act(rng, s[1], 0.004f, static_cast<int>(rng() % 256) - 128);  // very different scales
      QPtr y = out8(s[2], 0.05f, static_cast<int>(rng() % 100) - 50);
      check_node(op, none, {a.get(), b.get()}, *y, name + " " + s[0].str() + " " + s[1].str());
    }
    // Every pair of bytes, with an output scale small enough to saturate.
    QPtr a = act(rng, Shape{256, 1}, 0.3f, 17);
    QPtr b = act(rng, Shape{1, 256}, 0.2f, -40);
    for (int i = 0; i < 256; ++i) a->bytes[static_cast<size_t>(i)] = b->bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
    QPtr y = out8(Shape{256, 256}, 0.01f, 5);
    check_node(op, none, {a.get(), b.get()}, *y, name + " every byte pair");
  }
}

TEST_CASE("vulkan int8 element-wise tables (Relu, Clip, Activation, Sigmoid, Tanh, HardSwish, HardSigmoid) are bit-exact") {
  std::mt19937 rng(11);
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
      fb::ActivationOptionsT o;
      o.activation = kind;
      o.activation_min = kind == fb::Activation::HardSigmoid ? 0.2f : -0.7f;
      o.activation_max = kind == fb::Activation::HardSigmoid ? 0.5f : 2.5f;
      QPtr x = all_bytes(q.sx, q.zx);
      QPtr y = out8(Shape{256}, q.sy, q.zy);
      check_node(OpType::Activation, opts_of(o), {x.get()}, *y, std::string("activation ") + fb::EnumNameActivation(kind));
    }
  fb::NodeOptionsUnion none;
  fb::AlphaBetaOptionsT ab;
  ab.alpha = 0.25f;
  ab.beta = 0.4f;
  fb::ClipOptionsT clip;
  clip.min = -0.5f;
  clip.max = 1.5f;
  for (OpType op : {OpType::Relu, OpType::Clip, OpType::Sigmoid, OpType::Tanh, OpType::HardSwish, OpType::HardSigmoid})
    for (const auto& q : qs) {
      QPtr x = all_bytes(q.sx, q.zx);
      QPtr y = out8(Shape{256}, q.sy, q.zy);
      const fb::NodeOptionsUnion o = op == OpType::HardSigmoid ? opts_of(ab) : op == OpType::Clip ? opts_of(clip) : none;
      check_node(op, o, {x.get()}, *y, std::string("unary ") + fb::EnumNameOpType(op));
    }
  fb::ActivationOptionsT silu;
  silu.activation = fb::Activation::SiLU;
  QPtr x = act(rng, Shape{3, 70001}, 0.04f, -5);
  QPtr y = out8(Shape{3, 70001}, 0.02f, -110);
  check_node(OpType::Activation, opts_of(silu), {x.get()}, *y, "silu large");
}

TEST_CASE("vulkan int8 AveragePool / GlobalAveragePool / MaxPool / GlobalMaxPool / ReduceMean are bit-exact") {
  std::mt19937 rng(10);
  struct Case {
    Shape x, y;
    int k, s, p;
    bool include_pad, ceil;
    const char* name;
  } cases[] = {
      {Shape{2, 3, 9, 8}, Shape{2, 3, 5, 4}, 3, 2, 1, false, false, "3x3 s2 p1"},
      {Shape{2, 3, 9, 8}, Shape{2, 3, 5, 4}, 3, 2, 1, true, false, "3x3 s2 p1 include pad"},
      {Shape{1, 48, 14, 14}, Shape{1, 48, 14, 14}, 3, 1, 1, false, false, "poolformer 3x3 s1 p1"},
      {Shape{1, 5, 10, 11}, Shape{1, 5, 5, 5}, 3, 2, 0, false, true, "ceil mode"},
      {Shape{1, 4, 12, 12}, Shape{1, 4, 4, 4}, 3, 3, 0, false, false, "non-overlapping"},
  };
  for (OpType op : {OpType::AveragePool, OpType::MaxPool})
    for (const Case& cs : cases) {
      QPtr x = act(rng, cs.x, 0.03f, static_cast<int>(rng() % 256) - 128);
      QPtr y = op == OpType::MaxPool ? out8(cs.y, 0.03f, x->zp[0]) : out8(cs.y, 0.02f, static_cast<int>(rng() % 100) - 50);
      fb::PoolOptionsT o;
      o.kernel_shape = {cs.k, cs.k};
      o.strides = {cs.s, cs.s};
      o.dilations = {1, 1};
      o.pads = {cs.p, cs.p, cs.p, cs.p};
      o.count_include_pad = cs.include_pad;
      o.ceil_mode = cs.ceil;
      check_node(op, opts_of(o), {x.get()}, *y, std::string(fb::EnumNameOpType(op)) + " " + cs.name);
    }
  fb::NodeOptionsUnion none;
  for (const Shape& s : {Shape{2, 5, 6, 7}, Shape{1, 130, 16, 16}, Shape{1, 3, 70, 70}}) {
    QPtr x = act(rng, s, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(Shape{s[0], s[1], 1, 1}, 0.01f, 7);
    check_node(OpType::GlobalAveragePool, none, {x.get()}, *y, "global average pool " + s.str());
    QPtr ym = out8(Shape{s[0], s[1], 1, 1}, 0.03f, x->zp[0]);
    check_node(OpType::GlobalMaxPool, none, {x.get()}, *ym, "global max pool " + s.str());
  }
  // ReduceMean over one contiguous run of axes (the layout pass's NHWC global pool; a token mean).
  const struct {
    Shape x, y;
    std::vector<int32_t> axes;
  } reduces[] = {{Shape{2, 7, 7, 48}, Shape{2, 1, 1, 48}, {1, 2}}, {Shape{1, 16, 32}, Shape{1, 32}, {1}}, {Shape{3, 5, 300}, Shape{3, 5, 1}, {-1}}};
  for (const auto& r : reduces) {
    QPtr x = act(rng, r.x, 0.03f, static_cast<int>(rng() % 256) - 128);
    QPtr y = out8(r.y, 0.01f, -9);
    fb::ReduceOptionsT o;
    o.axes = r.axes;
    o.keepdims = r.y.rank == r.x.rank;
    check_node(OpType::ReduceMean, opts_of(o), {x.get()}, *y, "reduce mean " + r.x.str());
  }
}

TEST_CASE("vulkan moves int8 tensors exactly: Reshape, Transpose, Slice, Concat, Split, Expand, Gather") {
  std::mt19937 rng(12);
  {
    QPtr x = act(rng, Shape{1, 32, 4, 2, 4, 2}, 0.1f, 3);
    QPtr y = out8(Shape{1, 2, 2, 4, 4, 32}, 0.1f, 3);
    fb::TransposeOptionsT o;
    o.perm = {0, 3, 5, 2, 4, 1};
    check_node(OpType::Transpose, opts_of(o), {x.get()}, *y, "transpose rank 6 (MobileViT unfold)");
  }
  {
    QPtr x = act(rng, Shape{3, 5, 7}, 0.1f, 0);
    QPtr y = out8(Shape{105}, 0.1f, 0);
    fb::ReshapeOptionsT o;
    o.shape = {105};
    check_node(OpType::Reshape, opts_of(o), {x.get()}, *y, "reshape odd byte count");
  }
  {
    QPtr x = act(rng, Shape{2, 9, 13}, 0.1f, 0);
    QPtr y = out8(Shape{2, 3, 5}, 0.1f, 0);
    fb::SliceOptionsT o;
    o.starts = {1, 2};
    o.ends = {8, 12};
    o.axes = {1, 2};
    o.steps = {3, 2};
    check_node(OpType::Slice, opts_of(o), {x.get()}, *y, "slice with steps");
  }
  {
    QPtr a = act(rng, Shape{2, 3, 5}, 0.1f, 0);
    QPtr b = act(rng, Shape{2, 4, 5}, 0.1f, 0);
    QPtr y = out8(Shape{2, 7, 5}, 0.1f, 0);
    fb::AxisOptionsT o;
    o.axis = 1;
    check_node(OpType::Concat, opts_of(o), {a.get(), b.get()}, *y, "concat");
  }
  {
    QPtr x = act(rng, Shape{3, 1, 5}, 0.1f, 0);
    QPtr y = out8(Shape{2, 3, 4, 5}, 0.1f, 0);
    fb::ShapeListOptionsT o;
    o.values = {2, 3, 4, 5};
    check_node(OpType::Expand, opts_of(o), {x.get()}, *y, "expand");
  }
  {
    QPtr x = act(rng, Shape{5, 6, 7}, 0.1f, 0);
    QPtr idx = tensor_of(DType::Int64, Shape{4});
    const int64_t ids[4] = {4, 0, -1, 2};
    std::memcpy(idx->bytes.data(), ids, sizeof ids);
    idx->constant = true;
    QPtr y = out8(Shape{5, 4, 7}, 0.1f, 0);
    fb::AxisOptionsT o;
    o.axis = 1;
    check_node(OpType::Gather, opts_of(o), {x.get(), idx.get()}, *y, "gather");
  }
}

TEST_CASE("vulkan int8: execute creates nothing; a device without 8-bit storage fails at prepare, naming the cause") {
  std::mt19937 rng(13);
  QPtr x = act(rng, Shape{1, 4, 6, 6}, 0.02f, 5);
  QPtr w = weights(rng, Shape{8, 4, 3, 3}, 0, true);
  QPtr b = bias32(rng, 8);
  QPtr y = out8(Shape{1, 8, 6, 6}, 0.05f, -2);
  for (QTensor* t : {x.get(), w.get(), b.get(), y.get()}) t->finish();
  const auto opts = conv_opts(2, 3, 1, 1, 1, 1, fb::Activation::Relu);
  std::vector<TensorRef> tensors{x->ref, w->ref, b->ref, y->ref};
  const std::vector<uint8_t> is_const{0, 1, 1, 0};
  const std::vector<int32_t> ins{0, 1, 2}, outs{3}, gin{0};
  NodeView v{"conv", OpType::Conv, &opts, ins, outs};
  Subgraph g;
  g.nodes = std::span<const NodeView>(&v, 1);
  g.tensors = tensors;
  g.is_constant = is_const;
  g.inputs = gin;
  g.outputs = outs;
  REQUIRE(vulkan().is_available());
  auto ve = vulkan().prepare(g, {});
  REQUIRE_MESSAGE(ve.is_ok(), ve.status().message());
  vk::Counters& c = vk::counters();
  const uint64_t mem = c.memory_allocations, buf = c.buffers, pipes = c.pipelines, sets = c.descriptor_sets,
                 cmds = c.command_buffers_recorded, subs = c.submits;
  for (int i = 0; i < 4; ++i) REQUIRE(ve.value()->execute().is_ok());
  CHECK(c.memory_allocations == mem);
  CHECK(c.buffers == buf);
  CHECK(c.pipelines == pipes);
  CHECK(c.descriptor_sets == sets);
  CHECK(c.command_buffers_recorded == cmds);
  CHECK(c.submits == subs + 4);

  setenv("TERN_VULKAN_NO_INT8", "1", 1);  // the backend then treats the device as lacking 8-bit storage
  auto no8 = vulkan().prepare(g, {});
  unsetenv("TERN_VULKAN_NO_INT8");
  REQUIRE_FALSE(no8.is_ok());
  CHECK(no8.status().message().find("8-bit storage") != std::string::npos);
  CHECK(no8.status().message().find("'conv'") != std::string::npos);
  CHECK(c.validation_messages == 0);
}

TEST_CASE("vulkan int8: supports answers from dtypes alone and says why it declines") {
  std::string why;
  TensorInfo x8{DType::Int8, Shape{1, 4, 6, 6}, nullptr}, w8{DType::Int8, Shape{8, 4, 3, 3}, nullptr},
      b32{DType::Int32, Shape{8}, nullptr}, y8{DType::Int8, Shape{1, 8, 6, 6}, nullptr}, bf{DType::Float32, Shape{8}, nullptr};
  const auto silu = conv_opts(2, 3, 1, 1, 1, 1, fb::Activation::SiLU);
  const auto plain = conv_opts(2, 3, 1, 1, 1, 1);
  const TensorInfo* ins[3] = {&x8, &w8, &b32};
  const TensorInfo* outs[1] = {&y8};
  NodeQuery q;
  q.op = OpType::Conv;
  q.options = &plain;
  q.inputs = ins;
  q.outputs = outs;
  CHECK(vulkan().supports(q, &why));
  q.fp16_storage = true;
  CHECK_FALSE(vulkan().supports(q, &why));
  CHECK(why.find("float32-storage") != std::string::npos);
  q.fp16_storage = false;
  q.options = &silu;
  CHECK_FALSE(vulkan().supports(q, &why));
  CHECK(why.find("no int8 form") != std::string::npos);
  q.options = &plain;
  const TensorInfo* ins_fb[3] = {&x8, &w8, &bf};
  q.inputs = ins_fb;
  CHECK_FALSE(vulkan().supports(q, &why));
  CHECK(why.find("int32") != std::string::npos);
}
