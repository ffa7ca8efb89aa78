// Normalization reference kernels against two-pass mean / variance computed in double:
// BatchNormalization (inference), LayerNormalization over [axis, rank) with scale / B broadcast to
// the normalized shape, GroupNormalization (per-channel scale / bias) and InstanceNormalization.
// Random shapes with odd sizes, rows with a large mean (where a one-pass variance would fail),
// hand cases and the errors shape inference reports.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "reference/kernel.h"
#include "support/harness.h"

namespace tern::test {

namespace {

fb::NormOptionsT norm_options(float eps = 1e-5f, int axis = -1, int groups = 1) {
  fb::NormOptionsT o;
  o.epsilon = eps;
  o.axis = axis;
  o.num_groups = groups;
  return o;
}

// Mean and (biased) variance of `n` consecutive-or-strided elements read through `at`.
template <typename F>
void moments(int64_t n, F&& at, double* mean, double* var) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += at(i);
  *mean = s / double(n);
  double q = 0;
  for (int64_t i = 0; i < n; ++i) q += (at(i) - *mean) * (at(i) - *mean);
  *var = q / double(n);
}

// An element of a tensor broadcast (numpy, right-aligned) to `target` at target's flat index f.
float broadcast_at(const HostTensor& t, const std::vector<int64_t>& target, int64_t f) {
  std::vector<int64_t> idx(target.size());
  for (size_t i = target.size(); i-- > 0;) {
    idx[i] = f % target[i];
    f /= target[i];
  }
  int64_t off = 0;
  const size_t shift = target.size() - static_cast<size_t>(t.shape.rank);
  for (int d = 0; d < t.shape.rank; ++d)
    off = off * t.shape[d] + (t.shape[d] == 1 ? 0 : idx[shift + static_cast<size_t>(d)]);
  return t.f(off);
}

HostTensor layer_norm_ref(const HostTensor& x, const HostTensor& scale, const HostTensor* bias, int axis, float eps) {
  std::vector<int64_t> inner_dims(x.shape.dims + axis, x.shape.dims + x.shape.rank);
  int64_t inner = 1;
  for (int64_t d : inner_dims) inner *= d;
  HostTensor y(DType::Float32, x.shape);
  for (int64_t r = 0; r < x.numel() / inner; ++r) {
    double mean, var;
    moments(inner, [&](int64_t i) { return double(x.f(r * inner + i)); }, &mean, &var);
    for (int64_t i = 0; i < inner; ++i) {
      double v = (x.f(r * inner + i) - mean) / std::sqrt(var + eps) * broadcast_at(scale, inner_dims, i);
      if (bias) v += broadcast_at(*bias, inner_dims, i);
      y.data<float>()[r * inner + i] = float(v);
    }
  }
  return y;
}

HostTensor group_norm_ref(const HostTensor& x, const HostTensor& scale, const HostTensor& bias, int64_t groups,
                          float eps) {
  const int64_t n = x.shape[0], c = x.shape[1], plane = x.numel() / std::max<int64_t>(1, n * c), cpg = c / groups;
  HostTensor y(DType::Float32, x.shape);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t g = 0; g < groups; ++g) {
      // the group's elements: channels g*cpg .. g*cpg+cpg-1, every spatial position
      auto at = [&](int64_t i) { return double(x.f(((b * c) + g * cpg + i / plane) * plane + i % plane)); };
      double mean, var;
      moments(cpg * plane, at, &mean, &var);
      for (int64_t i = 0; i < cpg * plane; ++i) {
        int64_t ch = g * cpg + i / plane;
        y.data<float>()[(b * c + ch) * plane + i % plane] =
            float((at(i) - mean) / std::sqrt(var + eps) * scale.f(ch) + bias.f(ch));
      }
    }
  return y;
}

}  // namespace

TEST_CASE("batch_norm: random shapes vs (x - mean) / sqrt(var + eps) * scale + B") {
  std::mt19937 rng(8);
  for (int trial = 0; trial < 30; ++trial) {
    const int rank = 2 + static_cast<int>(rng() % 4);
    Shape s;
    s.rank = rank;
    for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, 1, d == 1 ? 9 : 7);
    const int64_t c = s[1];
    HostTensor x = random_f32(rng, s, -3.f, 3.f), scale = random_f32(rng, Shape{c}), bias = random_f32(rng, Shape{c});
    HostTensor mean = random_f32(rng, Shape{c}), var = random_f32(rng, Shape{c}, 0.1f, 2.f);
    const float eps = trial % 2 ? 1e-5f : 0.3f;
    auto out = run_reference(
        {OpType::BatchNormalization, make_options(norm_options(eps)), {&x, &scale, &bias, &mean, &var}});
    REQUIRE(out.size() == 1);
    HostTensor want(DType::Float32, s);
    const int64_t plane = s.numel() / (s[0] * c);
    for (int64_t i = 0; i < s.numel(); ++i) {
      int64_t ch = (i / plane) % c;
      want.data<float>()[i] =
          float((x.f(i) - mean.f(ch)) / std::sqrt(double(var.f(ch)) + eps) * scale.f(ch) + bias.f(ch));
    }
    check_close(out[0], want, 1e-5, 1e-5, "BatchNormalization X " + s.str() + " epsilon=" + std::to_string(eps));
  }
}

TEST_CASE("layer_norm: random axis, broadcast scale / B vs a two-pass double formulation") {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 60; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    Shape s;
    s.rank = rank;
    // one long dim every few trials (long rows / columns), the others small
    const int long_dim = trial % 6 == 0 ? static_cast<int>(rng() % static_cast<unsigned>(rank)) : -1;
    for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, 1, d == long_dim ? 300 : 11);
    const int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    // scale: the normalized shape, or a right-aligned suffix of it with some dims set to 1
    auto param_shape = [&]() {
      Shape p;
      int drop = static_cast<int>(rng() % static_cast<unsigned>(rank - axis));
      p.rank = rank - axis - drop;
      for (int d = 0; d < p.rank; ++d) p[d] = (rng() % 3 == 0) ? 1 : s[axis + drop + d];
      return p;
    };
    HostTensor x = random_f32(rng, s, -2.f, 4.f);
    HostTensor scale = random_f32(rng, trial % 2 ? param_shape() : Shape::from({s.dims + axis, s.dims + rank}));
    HostTensor bias = random_f32(rng, param_shape());
    const bool with_bias = trial % 3 != 0;
    const float eps = trial % 4 == 0 ? 0.5f : 1e-5f;
    auto out = run_reference(
        {OpType::LayerNormalization, make_options(norm_options(eps, axis)), {&x, &scale, with_bias ? &bias : nullptr}});
    REQUIRE(out.size() == 1);
    check_close(out[0], layer_norm_ref(x, scale, with_bias ? &bias : nullptr, axis, eps), 1e-4, 1e-5,
                "LayerNormalization X " + s.str() + " axis=" + std::to_string(axis) + " scale " + scale.shape.str() +
                    " B " + (with_bias ? bias.shape.str() : "none") + " epsilon=" + std::to_string(eps));
  }
}

TEST_CASE("layer_norm: rows with a large mean and a small spread keep their precision") {
  std::mt19937 rng(23);
  HostTensor x = random_f32(rng, Shape{4, 515}, -0.01f, 0.01f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 1000.0f;
  HostTensor scale = HostTensor::f32({515}, std::vector<float>(515, 1.0f));
  auto out = run_reference({OpType::LayerNormalization, make_options(norm_options(1e-12f, 1)), {&x, &scale}});
  REQUIRE(out.size() == 1);
  // float32 input quantization at 1000 is 6e-5, i.e. ~1% of the spread; compare to that resolution
  check_close(out[0], layer_norm_ref(x, scale, nullptr, 1, 1e-12f), 1e-3, 2e-3,
              "LayerNormalization mean 1000, std 0.006");
}

TEST_CASE("layer_norm: hand case and rejected options") {
  HostTensor x = HostTensor::f32({2, 2}, {1, 3, -2, 2});
  HostTensor scale = HostTensor::f32({2}, {1, 2});
  HostTensor bias = HostTensor::f32({2}, {0, 10});
  auto out = run_reference({OpType::LayerNormalization, make_options(norm_options(0.f, 1)), {&x, &scale, &bias}});
  REQUIRE(out.size() == 1);
  check_close(out[0], HostTensor::f32({2, 2}, {-1, 12, -1, 12}), 1e-6, 1e-6, "LayerNormalization [[1,3],[-2,2]]");

  std::vector<HostTensor> res;
  Status st = try_run_reference({OpType::LayerNormalization, make_options(norm_options(1e-5f, 2)), {&x, &scale}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("axis 2 is outside X [2x2]") != std::string::npos, st.message());
  HostTensor bad = HostTensor::f32({3}, {1, 1, 1});
  st = try_run_reference({OpType::LayerNormalization, make_options(norm_options(1e-5f, 1)), {&x, &bad}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("scale [3] does not broadcast to the normalized shape [2]") != std::string::npos,
                st.message());
}

TEST_CASE("layer_norm: the optional Mean and InvStdDev outputs, one value per row") {
  // Called through the kernel table directly: ONNX's Mean / InvStdDev outputs (shape: X with the
  // normalized axes set to 1) are written whenever the node has them.
  std::mt19937 rng(41);
  HostTensor x = random_f32(rng, Shape{3, 4, 5}, -2.f, 5.f), scale = random_f32(rng, Shape{5});
  fb::NodeOptionsUnion opts = make_options(norm_options(0.25f, 2));
  HostTensor y(DType::Float32, x.shape), mean(DType::Float32, Shape{3, 4, 1}), inv(DType::Float32, Shape{3, 4, 1});
  TensorRef rx = x.ref(), rs = scale.ref(), ry = y.ref(), rm = mean.ref(), ri = inv.ref();
  const TensorRef* ins[] = {&rx, &rs};
  const TensorRef* outs[] = {&ry, &rm, &ri};
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = OpType::LayerNormalization;
  kc.options = &opts;
  kc.inputs = ins;
  kc.outputs = outs;
  Status st = ref::run_node_once(kc);
  REQUIRE_MESSAGE(st.is_ok(), st.message());
  HostTensor want_mean(DType::Float32, mean.shape), want_inv(DType::Float32, inv.shape);
  for (int64_t r = 0; r < 12; ++r) {
    double m, v;
    moments(5, [&](int64_t i) { return double(x.f(r * 5 + i)); }, &m, &v);
    want_mean.data<float>()[r] = float(m);
    want_inv.data<float>()[r] = float(1 / std::sqrt(v + 0.25));
  }
  check_close(y, layer_norm_ref(x, scale, nullptr, 2, 0.25f), 1e-5, 1e-6, "LayerNormalization [3x4x5] axis 2 Y");
  check_close(mean, want_mean, 1e-6, 1e-6, "LayerNormalization [3x4x5] axis 2 Mean");
  check_close(inv, want_inv, 1e-6, 1e-6, "LayerNormalization [3x4x5] axis 2 InvStdDev");
}

TEST_CASE("group_norm / instance_norm: random shapes and groups vs per-group double statistics") {
  std::mt19937 rng(31);
  for (int trial = 0; trial < 40; ++trial) {
    const int rank = 3 + static_cast<int>(rng() % 3);
    const int64_t groups = random_dim(rng, 1, 4), per = random_dim(rng, 1, 3);
    Shape s;
    s.rank = rank;
    s[0] = random_dim(rng, 1, 2);
    s[1] = groups * per;
    for (int d = 2; d < rank; ++d) s[d] = random_dim(rng, 1, rank == 5 ? 5 : 13);
    HostTensor x = random_f32(rng, s, -1.f, 3.f), scale = random_f32(rng, Shape{s[1]}),
               bias = random_f32(rng, Shape{s[1]});
    const float eps = trial % 2 ? 1e-5f : 0.1f;
    auto out = run_reference({OpType::GroupNormalization,
                              make_options(norm_options(eps, -1, static_cast<int>(groups))), {&x, &scale, &bias}});
    REQUIRE(out.size() == 1);
    check_close(out[0], group_norm_ref(x, scale, bias, groups, eps), 1e-4, 1e-5,
                "GroupNormalization X " + s.str() + " num_groups=" + std::to_string(groups) +
                    " epsilon=" + std::to_string(eps));
    // InstanceNormalization ignores num_groups: one group per channel.
    auto inst = run_reference({OpType::InstanceNormalization,
                               make_options(norm_options(eps, -1, static_cast<int>(groups))), {&x, &scale, &bias}});
    REQUIRE(inst.size() == 1);
    check_close(inst[0], group_norm_ref(x, scale, bias, s[1], eps), 1e-4, 1e-5,
                "InstanceNormalization X " + s.str() + " epsilon=" + std::to_string(eps));
  }
}

TEST_CASE("group_norm: hand case, large mean, and rejected shapes") {
  // One group of two channels [1, 3] and [5, 7]: mean 4, variance 5.
  HostTensor x = HostTensor::f32({1, 2, 2}, {1, 3, 5, 7});
  HostTensor scale = HostTensor::f32({2}, {1, 2}), bias = HostTensor::f32({2}, {0, 1});
  auto out = run_reference({OpType::GroupNormalization, make_options(norm_options(0.f, -1, 1)), {&x, &scale, &bias}});
  REQUIRE(out.size() == 1);
  const float r5 = 1.0f / std::sqrt(5.0f);
  check_close(out[0], HostTensor::f32({1, 2, 2}, {-3 * r5, -r5, 2 * r5 + 1, 6 * r5 + 1}), 1e-6, 1e-6,
              "GroupNormalization [1x2x2] one group");

  std::mt19937 rng(5);
  HostTensor big = random_f32(rng, Shape{1, 4, 33, 17}, 999.99f, 1000.01f);
  HostTensor s4 = random_f32(rng, Shape{4}), b4 = random_f32(rng, Shape{4});
  auto o2 = run_reference({OpType::GroupNormalization, make_options(norm_options(1e-12f, -1, 2)), {&big, &s4, &b4}});
  REQUIRE(o2.size() == 1);
  check_close(o2[0], group_norm_ref(big, s4, b4, 2, 1e-12f), 1e-3, 2e-3, "GroupNormalization mean 1000, std 0.006");

  std::vector<HostTensor> res;
  HostTensor x6(DType::Float32, Shape{1, 6, 3}), s6(DType::Float32, Shape{6});
  Status st =
      try_run_reference({OpType::GroupNormalization, make_options(norm_options(1e-5f, -1, 4)), {&x6, &s6, &s6}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("num_groups 4 does not divide the 6 channels") != std::string::npos, st.message());
  HostTensor s3(DType::Float32, Shape{3});
  st = try_run_reference({OpType::InstanceNormalization, make_options(norm_options()), {&x6, &s3, &s6}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("scale has shape [3]; expected [6]") != std::string::npos, st.message());
}

}  // namespace tern::test
