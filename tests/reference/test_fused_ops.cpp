// The ops the compiler's fusion passes create (Activation, RMSNormalization, Attention) and the
// fused activation / bias fields of Conv, Gemm and MatMul, each against the composition of
// existing reference ops it replaces (the same subgraphs the passes match). Random shapes with odd
// sizes; run against every backend like the rest of the op suite.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

NodeSpec spec(OpType op, fb::NodeOptionsUnion options, std::vector<const HostTensor*> inputs) {
  NodeSpec n;
  n.op = op;
  n.options = std::move(options);
  n.inputs = std::move(inputs);
  return n;
}

HostTensor run1(OpType op, fb::NodeOptionsUnion options, std::vector<const HostTensor*> inputs,
                std::vector<bool> constant_inputs = {}) {
  NodeSpec n = spec(op, std::move(options), std::move(inputs));
  n.constant_inputs = std::move(constant_inputs);
  auto outs = run_reference(n);
  REQUIRE(outs.size() == 1);
  return std::move(outs[0]);
}

HostTensor unary(OpType op, const HostTensor& x) { return run1(op, {}, {&x}); }
HostTensor binary(OpType op, const HostTensor& a, const HostTensor& b) { return run1(op, {}, {&a, &b}); }
HostTensor scalar(float v) { return HostTensor::f32(Shape{}, {v}); }

fb::NodeOptionsUnion act_options(fb::Activation a, float lo = 0, float hi = 0) {
  fb::ActivationOptionsT o;
  o.activation = a;
  o.activation_min = lo;
  o.activation_max = hi;
  return make_options(o);
}

// The decomposed form an exporter emits for each activation.
HostTensor composed_activation(fb::Activation a, const HostTensor& x, float lo, float hi) {
  switch (a) {
    case fb::Activation::None: return run1(OpType::Identity, {}, {&x});
    case fb::Activation::Relu: return unary(OpType::Relu, x);
    case fb::Activation::Clip: {
      fb::ClipOptionsT o;
      o.min = lo;
      o.max = hi;
      return run1(OpType::Clip, make_options(o), {&x});
    }
    case fb::Activation::Sigmoid: return unary(OpType::Sigmoid, x);
    case fb::Activation::Tanh: return unary(OpType::Tanh, x);
    case fb::Activation::SiLU: return binary(OpType::Mul, x, unary(OpType::Sigmoid, x));
    case fb::Activation::GELU: {
      // x * 0.5 * (1 + erf(x / sqrt(2))), PyTorch's export
      HostTensor e = unary(OpType::Erf, binary(OpType::Div, x, scalar(1.4142135381698608f)));
      return binary(OpType::Mul, binary(OpType::Mul, x, binary(OpType::Add, e, scalar(1.0f))), scalar(0.5f));
    }
    case fb::Activation::GELUTanh: {
      HostTensor cube = binary(OpType::Pow, x, scalar(3.0f));
      HostTensor inner = binary(OpType::Add, x, binary(OpType::Mul, cube, scalar(0.044715f)));
      HostTensor t = unary(OpType::Tanh, binary(OpType::Mul, inner, scalar(0.7978845834732056f)));
      return binary(OpType::Mul, binary(OpType::Mul, x, scalar(0.5f)), binary(OpType::Add, t, scalar(1.0f)));
    }
    case fb::Activation::HardSwish: {
      // x * clip(x + 3, 0, 6) / 6
      fb::ClipOptionsT o;
      o.min = 0;
      o.max = 6;
      HostTensor x3 = binary(OpType::Add, x, scalar(3.0f));
      HostTensor c = run1(OpType::Clip, make_options(o), {&x3});
      return binary(OpType::Div, binary(OpType::Mul, x, c), scalar(6.0f));
    }
    case fb::Activation::HardSigmoid: {
      fb::AlphaBetaOptionsT o;
      o.alpha = lo;
      o.beta = hi;
      return run1(OpType::HardSigmoid, make_options(o), {&x});
    }
  }
  FAIL("unknown activation");
  return {};
}

const fb::Activation kAllActivations[] = {fb::Activation::None,      fb::Activation::Relu,     fb::Activation::Clip,
                                          fb::Activation::Sigmoid,   fb::Activation::SiLU,     fb::Activation::GELU,
                                          fb::Activation::GELUTanh,  fb::Activation::HardSwish, fb::Activation::HardSigmoid,
                                          fb::Activation::Tanh};

void bounds_of(fb::Activation a, float* lo, float* hi) {
  *lo = 0;
  *hi = 0;
  if (a == fb::Activation::Clip) *lo = -0.7f, *hi = 1.3f;
  if (a == fb::Activation::HardSigmoid) *lo = 0.2f, *hi = 0.5f;
}

}  // namespace

TEST_CASE("Activation matches the decomposed forms it replaces") {
  std::mt19937 rng(31);
  for (fb::Activation a : kAllActivations) {
    Shape s{random_dim(rng, 1, 3), random_dim(rng, 1, 9), random_dim(rng, 1, 33)};
    HostTensor x = random_f32(rng, s, -6.f, 6.f);
    float lo, hi;
    bounds_of(a, &lo, &hi);
    HostTensor got = run1(OpType::Activation, act_options(a, lo, hi), {&x});
    HostTensor want = composed_activation(a, x, lo, hi);
    check_close(got, want, 1e-5, 1e-6, std::string("Activation ") + fb::EnumNameActivation(a) + " " + s.str());
  }
}

TEST_CASE("Activation rejects non-float inputs and empty Clip ranges") {
  HostTensor xi = HostTensor::i64(Shape{3}, {1, 2, 3});
  std::vector<HostTensor> outs;
  CHECK(!try_run_reference(spec(OpType::Activation, act_options(fb::Activation::GELU), {&xi}), &outs).is_ok());
  HostTensor x = HostTensor::f32(Shape{3}, {1, 2, 3});
  Status s = try_run_reference(spec(OpType::Activation, act_options(fb::Activation::Clip, 2.f, 1.f), {&x}), &outs);
  CHECK(!s.is_ok());
  CHECK(s.message().find("Clip bounds") != std::string::npos);
}

TEST_CASE("RMSNormalization matches x * 1/sqrt(mean(x^2) + eps) * scale") {
  std::mt19937 rng(32);
  for (int trial = 0; trial < 8; ++trial) {
    const int rank = 2 + trial % 3;
    Shape s;
    s.rank = rank;
    for (int i = 0; i < rank; ++i) s[i] = random_dim(rng, 1, i == rank - 1 ? 70 : 5);
    const int axis = trial % 4 == 3 ? rank - 2 : rank - 1;
    HostTensor x = random_f32(rng, s, -3.f, 3.f);
    Shape inner;
    inner.rank = rank - axis;
    for (int i = 0; i < inner.rank; ++i) inner[i] = s[axis + i];
    // scale of the full normalized shape, or broadcast along its leading axis
    Shape ss = inner;
    if (trial % 2 == 1 && inner.rank > 1) ss[0] = 1;
    HostTensor scale = random_f32(rng, ss, 0.5f, 1.5f);
    const float eps = trial % 2 ? 1e-5f : 1e-6f;
    fb::NormOptionsT o;
    o.axis = axis;
    o.epsilon = eps;
    HostTensor got = run1(OpType::RMSNormalization, make_options(o), {&x, &scale});

    fb::ReduceOptionsT r;
    for (int i = axis; i < rank; ++i) r.axes.push_back(i);
    r.keepdims = true;
    HostTensor sq = binary(OpType::Pow, x, scalar(2.0f));
    HostTensor ms = run1(OpType::ReduceMean, make_options(r), {&sq});
    HostTensor rs = unary(OpType::Reciprocal, unary(OpType::Sqrt, binary(OpType::Add, ms, scalar(eps))));
    HostTensor want = binary(OpType::Mul, binary(OpType::Mul, x, rs), scale);
    check_close(got, want, 1e-5, 1e-6, "RMSNormalization X " + s.str() + " scale " + ss.str());
  }
}

TEST_CASE("RMSNormalization rejects a scale that does not broadcast") {
  HostTensor x(DType::Float32, Shape{2, 5});
  HostTensor scale(DType::Float32, Shape{4});
  fb::NormOptionsT o;
  o.axis = 1;
  std::vector<HostTensor> outs;
  CHECK(!try_run_reference(spec(OpType::RMSNormalization, make_options(o), {&x, &scale}), &outs).is_ok());
}

TEST_CASE("Attention matches MatMul -> scale -> [Add bias] -> Softmax -> MatMul") {
  std::mt19937 rng(33);
  for (int trial = 0; trial < 12; ++trial) {
    const bool kt = trial % 2 == 1, with_bias = trial % 3 != 0, bcast_k = trial % 4 == 2;
    const int64_t b = random_dim(rng, 1, 2), h = random_dim(rng, 1, 4), lq = random_dim(rng, 1, 19),
                  lk = random_dim(rng, 1, 23), d = random_dim(rng, 1, 17), dv = random_dim(rng, 1, 13);
    const int64_t kb = bcast_k ? 1 : b;
    HostTensor q = random_f32(rng, Shape{b, h, lq, d}, -2.f, 2.f);
    HostTensor k = random_f32(rng, kt ? Shape{kb, h, d, lk} : Shape{kb, h, lk, d}, -2.f, 2.f);
    HostTensor v = random_f32(rng, Shape{h, lk, dv});  // batch broadcast from a lower rank
    // bias: a per-key mask row [1, 1, 1, Lk] or a full per-head bias [H, Lq, Lk]
    HostTensor bias = trial % 3 == 1 ? random_f32(rng, Shape{1, 1, 1, lk}, -5.f, 0.f) : random_f32(rng, Shape{h, lq, lk});
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    fb::AttentionOptionsT o;
    o.scale = scale;
    o.k_transposed = kt;
    std::vector<const HostTensor*> ins = {&q, &k, &v};
    if (with_bias) ins.push_back(&bias);
    HostTensor got = run1(OpType::Attention, make_options(o), ins);

    HostTensor kk = k;
    if (!kt) {
      fb::TransposeOptionsT t;
      t.perm = {0, 1, 3, 2};
      kk = run1(OpType::Transpose, make_options(t), {&k});
    }
    HostTensor logits = binary(OpType::Mul, run1(OpType::MatMul, make_options(fb::MatMulOptionsT{}), {&q, &kk}), scalar(scale));
    if (with_bias) logits = binary(OpType::Add, logits, bias);
    fb::AxisOptionsT ax;
    ax.axis = 3;
    HostTensor p = run1(OpType::Softmax, make_options(ax), {&logits});
    HostTensor want = run1(OpType::MatMul, make_options(fb::MatMulOptionsT{}), {&p, &v});
    check_close(got, want, 1e-5, 1e-5,
                "Attention Q " + q.shape.str() + " K " + k.shape.str() + " V " + v.shape.str() +
                    (with_bias ? " bias " + bias.shape.str() : std::string()) + (kt ? " k_transposed" : ""));
  }
}

TEST_CASE("Attention shape inference rejects mismatched depths and keys") {
  HostTensor q(DType::Float32, Shape{2, 4, 8});
  HostTensor k(DType::Float32, Shape{2, 5, 7});
  HostTensor v(DType::Float32, Shape{2, 5, 3});
  fb::AttentionOptionsT o;
  std::vector<HostTensor> outs;
  Status s = try_run_reference(spec(OpType::Attention, make_options(o), {&q, &k, &v}), &outs);
  CHECK(!s.is_ok());
  CHECK(s.message().find("depth") != std::string::npos);
  HostTensor k2(DType::Float32, Shape{2, 6, 8});
  s = try_run_reference(spec(OpType::Attention, make_options(o), {&q, &k2, &v}), &outs);
  CHECK(!s.is_ok());
  HostTensor bias(DType::Float32, Shape{3, 5});
  HostTensor k3(DType::Float32, Shape{2, 5, 8});
  s = try_run_reference(spec(OpType::Attention, make_options(o), {&q, &k3, &v, &bias}), &outs);
  CHECK(!s.is_ok());
}

TEST_CASE("MatMul's fused bias and activation match MatMul -> Add -> activation") {
  std::mt19937 rng(34);
  for (fb::Activation a : kAllActivations) {
    const int64_t m = random_dim(rng, 1, 17), k = random_dim(rng, 1, 29), n = random_dim(rng, 1, 21);
    HostTensor x = random_f32(rng, Shape{random_dim(rng, 1, 3), m, k}, -2.f, 2.f);
    HostTensor w = random_f32(rng, Shape{k, n});
    HostTensor bias = random_f32(rng, Shape{n});
    float lo, hi;
    bounds_of(a, &lo, &hi);
    fb::MatMulOptionsT o;
    o.activation = a;
    o.activation_min = lo;
    o.activation_max = hi;
    HostTensor got = run1(OpType::MatMul, make_options(o), {&x, &w, &bias}, {false, true, true});
    HostTensor mm = run1(OpType::MatMul, make_options(fb::MatMulOptionsT{}), {&x, &w}, {false, true});
    HostTensor want = composed_activation(a, binary(OpType::Add, mm, bias), lo, hi);
    check_close(got, want, 1e-5, 1e-5, std::string("MatMul+bias+") + fb::EnumNameActivation(a) + " " + x.shape.str());
  }
}

TEST_CASE("Gemm's and Conv's fused activations match the op followed by the activation") {
  std::mt19937 rng(35);
  for (fb::Activation a : kAllActivations) {
    float lo, hi;
    bounds_of(a, &lo, &hi);
    {
      const int64_t m = random_dim(rng, 1, 9), k = random_dim(rng, 1, 19), n = random_dim(rng, 1, 15);
      HostTensor x = random_f32(rng, Shape{m, k}, -2.f, 2.f);
      HostTensor w = random_f32(rng, Shape{n, k});
      HostTensor c = random_f32(rng, Shape{n});
      fb::GemmOptionsT o;
      o.trans_b = true;
      HostTensor plain = run1(OpType::Gemm, make_options(o), {&x, &w, &c});
      o.activation = a;
      o.activation_min = lo;
      o.activation_max = hi;
      HostTensor got = run1(OpType::Gemm, make_options(o), {&x, &w, &c});
      check_close(got, composed_activation(a, plain, lo, hi), 1e-5, 1e-5,
                  std::string("Gemm+") + fb::EnumNameActivation(a) + " " + x.shape.str());
    }
    {
      const int64_t cin = random_dim(rng, 1, 6), cout = random_dim(rng, 1, 7), hw = random_dim(rng, 3, 11);
      HostTensor x = random_f32(rng, Shape{1, cin, hw, hw + 2}, -2.f, 2.f);
      HostTensor w = random_f32(rng, Shape{cout, cin, 3, 3});
      HostTensor b = random_f32(rng, Shape{cout});
      fb::ConvOptionsT o;
      o.kernel_shape = {3, 3};
      o.strides = {1, 1};
      o.dilations = {1, 1};
      o.pads = {1, 1, 1, 1};
      HostTensor plain = run1(OpType::Conv, make_options(o), {&x, &w, &b});
      o.activation = a;
      o.activation_min = lo;
      o.activation_max = hi;
      HostTensor got = run1(OpType::Conv, make_options(o), {&x, &w, &b});
      check_close(got, composed_activation(a, plain, lo, hi), 1e-5, 1e-5,
                  std::string("Conv+") + fb::EnumNameActivation(a) + " " + x.shape.str());
    }
  }
}

}  // namespace tern::test
