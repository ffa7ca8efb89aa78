// channels_last Conv and pools (set by the layout pass, compiler/passes/layout.cpp): the same node
// on [N, spatial..., C] tensors must give exactly the transposed result of the channels-first node.
// Under --tern-backend=cpu every node here also runs on the CPU backend (XNNPACK reads NHWC
// directly), so these cases check its channels-last path against the reference; the same file
// covers the CPU backend's other XNNPACK entry points the rest of the suite reaches less often:
// MatMul and Gemm with constant weights (fully connected), ReduceMean over H and W of NHWC, and
// the channels-first <-> channels-last Transposes at region edges.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

// [N, C, s...] -> [N, s..., C] and back.
HostTensor to_last(const HostTensor& x) {
  const Shape& s = x.shape;
  Shape r = s;
  for (int i = 1; i < s.rank - 1; ++i) r[i] = s[i + 1];
  r[s.rank - 1] = s[1];
  HostTensor y(x.dtype, r);
  const int64_t n = s[0], c = s[1], p = c ? x.numel() / (n * c) : 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < p; ++q) y.data<float>()[(i * p + q) * c + ch] = x.f((i * c + ch) * p + q);
  return y;
}

std::string describe(const std::vector<int32_t>& k, const std::vector<int32_t>& s, const std::vector<int32_t>& d,
                     const std::vector<int32_t>& p) {
  auto list = [](const std::vector<int32_t>& v) {
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) r += (i ? "," : "") + std::to_string(v[i]);
    return r + "]";
  };
  return "k" + list(k) + " s" + list(s) + " d" + list(d) + " p" + list(p);
}

}  // namespace

TEST_CASE("layout: channels_last Conv equals the transposed channels-first Conv") {
  std::mt19937 rng(4242);
  const fb::Activation acts[] = {fb::Activation::None, fb::Activation::Relu, fb::Activation::Clip,
                                 fb::Activation::HardSwish, fb::Activation::SiLU, fb::Activation::GELU};
  for (int iter = 0; iter < 60; ++iter) {
    const int spatial = iter % 5 == 4 ? 1 : 2;
    const int kind = iter % 3;  // 0 plain, 1 grouped, 2 depthwise
    const int64_t n = random_dim(rng, 1, 2);
    int64_t group = 1, c = random_dim(rng, 1, 9), m = random_dim(rng, 1, 9);
    if (kind == 1) {
      group = random_dim(rng, 2, 3);
      c = group * random_dim(rng, 1, 3);
      m = group * random_dim(rng, 1, 3);
    } else if (kind == 2) {
      group = c = random_dim(rng, 2, 12);
      m = c * (iter % 4 == 2 ? 2 : 1);
    }
    fb::ConvOptionsT o;
    Shape xs, ws;
    xs.rank = ws.rank = spatial + 2;
    xs[0] = n;
    xs[1] = c;
    ws[0] = m;
    ws[1] = c / group;
    for (int i = 0; i < spatial; ++i) {
      const int32_t k = static_cast<int32_t>(random_dim(rng, 1, 3 + (iter % 2) * 2));
      const int32_t d = iter % 7 == 3 ? 2 : 1;
      o.kernel_shape.push_back(k);
      o.strides.push_back(static_cast<int32_t>(random_dim(rng, 1, 2)));
      o.dilations.push_back(d);
      xs[2 + i] = random_dim(rng, (k - 1) * d + 1, (k - 1) * d + 12);
      ws[2 + i] = k;
    }
    for (int i = 0; i < 2 * spatial; ++i)
      o.pads.push_back(static_cast<int32_t>(random_dim(rng, 0, o.kernel_shape[static_cast<size_t>(i % spatial)] - 1)));
    o.group = static_cast<int32_t>(group);
    o.activation = acts[iter % 6];
    if (o.activation == fb::Activation::Clip) {
      o.activation_min = -0.25f;
      o.activation_max = 0.5f;
    }
    HostTensor x = random_f32(rng, xs), w = random_f32(rng, ws), b = random_f32(rng, {m});
    const bool with_bias = iter % 2 == 0;
    CAPTURE(iter);
    CAPTURE(x.shape.str());
    CAPTURE(w.shape.str());
    CAPTURE(group);
    INFO(describe(o.kernel_shape, o.strides, o.dilations, o.pads));
    std::vector<HostTensor> first = run_reference({OpType::Conv, make_options(o), {&x, &w, with_bias ? &b : nullptr}});
    REQUIRE(first.size() == 1);
    fb::ConvOptionsT ol = o;
    ol.channels_last = true;
    HostTensor xl = to_last(x);
    std::vector<HostTensor> last = run_reference({OpType::Conv, make_options(ol), {&xl, &w, with_bias ? &b : nullptr}});
    REQUIRE(last.size() == 1);
    check_close(last[0], to_last(first[0]), 1e-6, 1e-6, "channels_last Conv vs channels-first Conv");
  }
}

TEST_CASE("layout: channels_last AveragePool and MaxPool equal the channels-first pools") {
  std::mt19937 rng(777);
  for (int iter = 0; iter < 60; ++iter) {
    const OpType op = iter % 2 ? OpType::MaxPool : OpType::AveragePool;
    const int spatial = iter % 6 == 5 ? 1 : 2;
    fb::PoolOptionsT o;
    Shape xs;
    xs.rank = spatial + 2;
    xs[0] = random_dim(rng, 1, 2);
    xs[1] = random_dim(rng, 1, 10);
    for (int i = 0; i < spatial; ++i) {
      const int32_t k = static_cast<int32_t>(random_dim(rng, 1, 4));
      const int32_t d = op == OpType::MaxPool && iter % 5 == 1 ? 2 : 1;
      o.kernel_shape.push_back(k);
      o.strides.push_back(static_cast<int32_t>(random_dim(rng, 1, 3)));
      o.dilations.push_back(d);
      xs[2 + i] = random_dim(rng, (k - 1) * d + 1, (k - 1) * d + 13);
    }
    for (int i = 0; i < 2 * spatial; ++i)
      o.pads.push_back(static_cast<int32_t>(random_dim(rng, 0, o.kernel_shape[static_cast<size_t>(i % spatial)] - 1)));
    o.ceil_mode = iter % 4 >= 2;
    o.count_include_pad = iter % 8 >= 4;
    HostTensor x = random_f32(rng, xs, -3.f, 3.f);
    CAPTURE(iter);
    CAPTURE(x.shape.str());
    INFO(describe(o.kernel_shape, o.strides, o.dilations, o.pads), " ceil ", o.ceil_mode, " include_pad ", o.count_include_pad);
    std::vector<HostTensor> first = run_reference({op, make_options(o), {&x}});
    REQUIRE(first.size() == 1);
    fb::PoolOptionsT ol = o;
    ol.channels_last = true;
    HostTensor xl = to_last(x);
    std::vector<HostTensor> last = run_reference({op, make_options(ol), {&xl}});
    REQUIRE(last.size() == 1);
    check_close(last[0], to_last(first[0]), 1e-6, 1e-6, "channels_last pool vs channels-first pool");
  }
}

TEST_CASE("layout: channels_last GroupNormalization / InstanceNormalization equal the channels-first ones") {
  std::mt19937 rng(5150);
  for (int iter = 0; iter < 40; ++iter) {
    const bool instance = iter % 5 == 4;
    const OpType op = instance ? OpType::InstanceNormalization : OpType::GroupNormalization;
    fb::NormOptionsT o;
    o.epsilon = iter % 3 ? 1e-5f : 1e-2f;
    const int64_t groups = random_dim(rng, 1, 4);
    o.num_groups = static_cast<int32_t>(groups);
    Shape xs;
    xs.rank = iter % 4 == 3 ? 3 : 4;
    xs[0] = random_dim(rng, 1, 2);
    xs[1] = instance ? random_dim(rng, 1, 9) : groups * random_dim(rng, 1, 5);
    for (int i = 2; i < xs.rank; ++i) xs[i] = random_dim(rng, 1, 19);
    // A mean far from zero against the spread in some cases (the variance must not cancel).
    const float shift = iter % 6 == 1 ? 300.f : 0.f;
    HostTensor x = random_f32(rng, xs, shift - 2.f, shift + 3.f);
    HostTensor scale = random_f32(rng, {xs[1]}, 0.5f, 1.5f), bias = random_f32(rng, {xs[1]});
    CAPTURE(iter);
    CAPTURE(x.shape.str());
    CAPTURE(o.num_groups);
    std::vector<HostTensor> first = run_reference({op, make_options(o), {&x, &scale, &bias}});
    REQUIRE(first.size() == 1);
    fb::NormOptionsT ol = o;
    ol.channels_last = true;
    HostTensor xl = to_last(x);
    std::vector<HostTensor> last = run_reference({op, make_options(ol), {&xl, &scale, &bias}});
    REQUIRE(last.size() == 1);
    check_close(last[0], to_last(first[0]), 1e-6, 1e-6, "channels_last group norm vs channels-first");
  }
}

TEST_CASE("layout: shape inference of channels_last Conv and pools") {
  fb::ConvOptionsT o;
  o.kernel_shape = {3, 3};
  o.strides = {2, 2};
  o.dilations = {1, 1};
  o.pads = {1, 1, 1, 1};
  o.channels_last = true;
  HostTensor x(DType::Float32, {1, 9, 7, 4}), w(DType::Float32, {6, 4, 3, 3});
  std::vector<HostTensor> y = run_reference({OpType::Conv, make_options(o), {&x, &w}});
  REQUIRE(y.size() == 1);
  CHECK(y[0].shape == Shape{1, 5, 4, 6});
  fb::PoolOptionsT p;
  p.kernel_shape = {2, 2};
  p.strides = {2, 2};
  p.dilations = {1, 1};
  p.pads = {0, 0, 0, 0};
  p.ceil_mode = true;
  p.channels_last = true;
  std::vector<HostTensor> z = run_reference({OpType::MaxPool, make_options(p), {&x}});
  REQUIRE(z.size() == 1);
  CHECK(z[0].shape == Shape{1, 5, 4, 4});
  // A wrong channel count is named against the channels-first view.
  HostTensor bad(DType::Float32, {1, 9, 7, 5});
  std::vector<HostTensor> out;
  CHECK_FALSE(try_run_reference({OpType::Conv, make_options(o), {&bad, &w}}, &out).is_ok());
}

TEST_CASE("layout: region-edge Transposes and ReduceMean over H, W") {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 6; ++iter) {
    HostTensor x = random_f32(rng, {random_dim(rng, 1, 2), random_dim(rng, 1, 40), random_dim(rng, 1, 17), random_dim(rng, 1, 19)});
    CAPTURE(x.shape.str());
    fb::TransposeOptionsT to_last_perm, to_first_perm;
    to_last_perm.perm = {0, 2, 3, 1};
    to_first_perm.perm = {0, 3, 1, 2};
    std::vector<HostTensor> a = run_reference({OpType::Transpose, make_options(to_last_perm), {&x}});
    REQUIRE(a.size() == 1);
    check_equal(a[0], to_last(x), "Transpose [0,2,3,1]");
    std::vector<HostTensor> b = run_reference({OpType::Transpose, make_options(to_first_perm), {&a[0]}});
    REQUIRE(b.size() == 1);
    check_equal(b[0], x, "Transpose [0,3,1,2]");
    fb::ReduceOptionsT r;
    r.axes = {1, 2};
    r.keepdims = true;
    std::vector<HostTensor> mean = run_reference({OpType::ReduceMean, make_options(r), {&a[0]}});
    std::vector<HostTensor> gap = run_reference({OpType::GlobalAveragePool, {}, {&x}});
    REQUIRE(mean.size() == 1);
    REQUIRE(gap.size() == 1);
    check_close(mean[0], to_last(gap[0]), 1e-5, 1e-6, "ReduceMean over H, W vs GlobalAveragePool");
  }
}

// Fully connected: MatMul with a constant 2-D B (any leading dims of A, fused bias and activation)
// and Gemm (alpha, beta, trans_b, bias [N], [1, N] or scalar).
TEST_CASE("layout: MatMul and Gemm with constant weights") {
  std::mt19937 rng(5);
  const fb::Activation acts[] = {fb::Activation::None, fb::Activation::Relu, fb::Activation::GELU, fb::Activation::Clip};
  for (int iter = 0; iter < 16; ++iter) {
    const int64_t k = random_dim(rng, 1, 40), nn = random_dim(rng, 1, 33);
    Shape as;
    as.rank = 2 + iter % 3;
    for (int i = 0; i < as.rank - 1; ++i) as[i] = random_dim(rng, 1, 7);
    as[as.rank - 1] = k;
    HostTensor a = random_f32(rng, as), b = random_f32(rng, {k, nn}), bias = random_f32(rng, {nn});
    fb::MatMulOptionsT o;
    o.activation = acts[iter % 4];
    o.activation_min = -0.1f;
    o.activation_max = 0.2f;
    const bool with_bias = iter % 2 == 1;
    CAPTURE(a.shape.str());
    CAPTURE(b.shape.str());
    NodeSpec spec{OpType::MatMul, make_options(o), {&a, &b}};
    if (with_bias) spec.inputs.push_back(&bias);
    spec.constant_inputs = {false, true, true};
    std::vector<HostTensor> y = run_reference(spec);
    REQUIRE(y.size() == 1);
  }
  for (int iter = 0; iter < 12; ++iter) {
    const int64_t m = random_dim(rng, 1, 9), k = random_dim(rng, 1, 30), nn = random_dim(rng, 1, 20);
    fb::GemmOptionsT o;
    o.trans_b = iter % 2 == 1;
    o.alpha = iter % 3 == 0 ? 1.0f : 0.5f;
    o.beta = iter % 4 == 0 ? 1.0f : 2.0f;
    o.activation = acts[iter % 4];
    o.activation_min = -0.1f;
    o.activation_max = 0.2f;
    HostTensor a = random_f32(rng, {m, k});
    HostTensor b = o.trans_b ? random_f32(rng, {nn, k}) : random_f32(rng, {k, nn});
    HostTensor c = iter % 3 == 0 ? random_f32(rng, {nn}) : iter % 3 == 1 ? random_f32(rng, {1, nn}) : random_f32(rng, {});
    CAPTURE(iter);
    std::vector<HostTensor> y = run_reference({OpType::Gemm, make_options(o), {&a, &b, &c}});
    REQUIRE(y.size() == 1);
  }
}

}  // namespace tern::test
