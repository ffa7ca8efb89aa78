// Gemm and MatMul reference kernels against plain triple loops in double: Gemm with every
// trans_a / trans_b / alpha / beta combination and every broadcast form of C; MatMul with numpy
// semantics (1-D operands, broadcast batch dims) and the fused bias; the fused activations; sizes
// around the kernel's register tile and blocking; and the errors shape inference reports.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

double activation_ref(fb::Activation a, double x, double lo, double hi) {
  switch (a) {
    case fb::Activation::None: return x;
    case fb::Activation::Relu: return x > 0 ? x : 0;
    case fb::Activation::Clip: return std::min(std::max(x, lo), hi);
    case fb::Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case fb::Activation::SiLU: return x / (1 + std::exp(-x));
    case fb::Activation::GELU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case fb::Activation::GELUTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case fb::Activation::HardSwish: return x * std::min(std::max(x / 6 + 0.5, 0.0), 1.0);
    case fb::Activation::HardSigmoid: return std::min(std::max(lo * x + hi, 0.0), 1.0);
    case fb::Activation::Tanh: return std::tanh(x);
  }
  return x;
}

constexpr fb::Activation kActivations[] = {
    fb::Activation::None,    fb::Activation::Relu,      fb::Activation::Clip,
    fb::Activation::Sigmoid, fb::Activation::SiLU,      fb::Activation::GELU,
    fb::Activation::GELUTanh, fb::Activation::HardSwish, fb::Activation::HardSigmoid,
    fb::Activation::Tanh};

// Gemm by definition: Y[i, j] = act(alpha * sum_k A'[i, k] B'[k, j] + beta * C[i mod.., j mod..]).
HostTensor gemm_ref(const HostTensor& a, const HostTensor& b, const HostTensor* c, const fb::GemmOptionsT& o) {
  const int64_t m = o.trans_a ? a.shape[1] : a.shape[0], k = o.trans_a ? a.shape[0] : a.shape[1];
  const int64_t n = o.trans_b ? b.shape[0] : b.shape[1];
  HostTensor y(DType::Float32, Shape{m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        s += double(o.trans_a ? a.f(kk * m + i) : a.f(i * k + kk)) * (o.trans_b ? b.f(j * k + kk) : b.f(kk * n + j));
      double v = o.alpha * s;
      if (c) {
        // C's dims align to the right of [M, N]; a dim of 1 repeats.
        int64_t ci = 0;
        const Shape& cs = c->shape;
        if (cs.rank == 2) ci = (cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j);
        if (cs.rank == 1) ci = cs[0] == 1 ? 0 : j;
        v += double(o.beta) * c->f(ci);
      }
      y.data<float>()[i * n + j] = float(activation_ref(o.activation, v, o.activation_min, o.activation_max));
    }
  return y;
}

// MatMul by numpy's rules: promote 1-D operands, broadcast the batch dims, drop promoted dims.
HostTensor matmul_ref(const HostTensor& a, const HostTensor& b, const HostTensor* bias, const fb::MatMulOptionsT& o) {
  std::vector<int64_t> sa = a.shape.vec(), sb = b.shape.vec();
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), 1);
  if (b_vec) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  std::vector<int64_t> ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const size_t r = std::max(ba.size(), bb.size());
  ba.insert(ba.begin(), r - ba.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  std::vector<int64_t> batch(r), out;
  for (size_t i = 0; i < r; ++i) batch[i] = std::max(ba[i], bb[i]);
  out = batch;
  if (!a_vec) out.push_back(m);
  if (!b_vec) out.push_back(n);
  HostTensor y(DType::Float32, Shape::from(out));
  int64_t nb = 1;
  for (int64_t d : batch) nb *= d;
  for (int64_t t = 0; t < nb; ++t) {
    // batch index -> offsets of A's and B's matrices
    int64_t rem = t, ia = 0, ib = 0, mul_a = 1, mul_b = 1;
    for (size_t d = r; d-- > 0;) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      ia += (ba[d] == 1 ? 0 : idx) * mul_a;
      ib += (bb[d] == 1 ? 0 : idx) * mul_b;
      mul_a *= ba[d];
      mul_b *= bb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = bias ? bias->f(j) : 0.0;
        for (int64_t kk = 0; kk < k; ++kk) s += double(a.f(ia * m * k + i * k + kk)) * b.f(ib * k * n + kk * n + j);
        y.data<float>()[(t * m + i) * n + j] =
            float(activation_ref(o.activation, s, o.activation_min, o.activation_max));
      }
  }
  return y;
}

std::string gemm_what(const HostTensor& a, const HostTensor& b, const HostTensor* c, const fb::GemmOptionsT& o) {
  return "Gemm A " + a.shape.str() + " B " + b.shape.str() + " C " + (c ? c->shape.str() : "none") +
         " trans_a=" + std::to_string(o.trans_a) + " trans_b=" + std::to_string(o.trans_b) +
         " alpha=" + std::to_string(o.alpha) + " beta=" + std::to_string(o.beta) +
         " activation=" + fb::EnumNameActivation(o.activation);
}

}  // namespace

TEST_CASE("gemm: trans flags, alpha/beta, every C broadcast and activation vs a double loop") {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 120; ++trial) {
    fb::GemmOptionsT o;
    o.trans_a = trial & 1;
    o.trans_b = (trial >> 1) & 1;
    o.alpha = (trial % 5 == 0) ? 1.0f : 0.75f;
    o.beta = (trial % 7 == 0) ? 0.0f : -1.25f;
    o.activation = kActivations[trial % 10];
    o.activation_min = o.activation == fb::Activation::HardSigmoid ? 0.3f : -0.5f;
    o.activation_max = 0.5f;
    // Sizes around the 4 x 8 register tile, and every so often past the k / transposed-B blocks.
    const bool big = trial % 9 == 0;
    const int64_t m = random_dim(rng, 1, big ? 70 : 13), n = random_dim(rng, 1, big ? 140 : 21),
                  k = random_dim(rng, 1, big ? 300 : 17);
    HostTensor a = random_f32(rng, o.trans_a ? Shape{k, m} : Shape{m, k});
    HostTensor b = random_f32(rng, o.trans_b ? Shape{n, k} : Shape{k, n});
    const Shape c_shapes[] = {Shape{m, n}, Shape{n}, Shape{1, n}, Shape{m, 1}, Shape{1, 1}, Shape{1}, Shape{}};
    const int pick = static_cast<int>(rng() % 8);
    HostTensor c = random_f32(rng, pick < 7 ? c_shapes[pick] : Shape{1});
    const HostTensor* cp = pick < 7 ? &c : nullptr;
    auto out = run_reference({OpType::Gemm, make_options(o), {&a, &b, cp}});
    REQUIRE(out.size() == 1);
    check_close(out[0], gemm_ref(a, b, cp, o), 1e-4, 2e-5, gemm_what(a, b, cp, o));
  }
}

TEST_CASE("gemm: hand-computed case and rejected shapes") {
  HostTensor a = HostTensor::f32({2, 3}, {1, 2, 3, 4, 5, 6});
  HostTensor b = HostTensor::f32({2, 3}, {1, 0, 1, 0, 1, 0});  // used transposed: [3, 2]
  HostTensor c = HostTensor::f32({2}, {10, 20});
  fb::GemmOptionsT o;
  o.trans_b = true;
  o.alpha = 2;
  o.beta = 0.5f;
  auto out = run_reference({OpType::Gemm, make_options(o), {&a, &b, &c}});
  REQUIRE(out.size() == 1);
  // A * B^T = [[4, 2], [10, 5]]; 2 * that + 0.5 * [10, 20]
  check_equal(out[0], HostTensor::f32({2, 2}, {13, 14, 25, 20}), "Gemm [2x3] * [2x3]^T alpha 2 beta 0.5");

  std::vector<HostTensor> res;
  o.trans_b = false;
  Status st = try_run_reference({OpType::Gemm, make_options(o), {&a, &b, &c}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("inner dimensions differ") != std::string::npos, st.message());

  HostTensor bt = HostTensor::f32({3, 2}, {});
  HostTensor bad_c(DType::Float32, Shape{3});
  st = try_run_reference({OpType::Gemm, make_options(o), {&a, &bt, &bad_c}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("C [3] does not broadcast") != std::string::npos, st.message());
}

TEST_CASE("gemm: every fused activation is applied after alpha, beta and C") {
  std::mt19937 rng(3);
  HostTensor a = random_f32(rng, Shape{5, 9}, -2.f, 2.f), b = random_f32(rng, Shape{9, 6}, -2.f, 2.f);
  HostTensor c = random_f32(rng, Shape{6}, 1.f, 3.f);
  for (fb::Activation act : kActivations) {
    fb::GemmOptionsT o;
    o.alpha = 0.5f;
    o.activation = act;
    o.activation_min = act == fb::Activation::HardSigmoid ? 0.3f : -0.3f;
    o.activation_max = act == fb::Activation::HardSigmoid ? 0.4f : 1.1f;
    auto out = run_reference({OpType::Gemm, make_options(o), {&a, &b, &c}});
    REQUIRE(out.size() == 1);
    check_close(out[0], gemm_ref(a, b, &c, o), 1e-5, 1e-5, gemm_what(a, b, &c, o));
  }
}

TEST_CASE("matmul: 1-D operands, broadcast batch dims, bias and activation vs numpy's definition") {
  std::mt19937 rng(2718);
  for (int trial = 0; trial < 150; ++trial) {
    const int ra = 1 + static_cast<int>(rng() % 4), rb = 1 + static_cast<int>(rng() % 4);
    const bool big = trial % 10 == 0;
    const int64_t m = random_dim(rng, 1, big ? 40 : 9), n = random_dim(rng, 1, big ? 70 : 19),
                  k = random_dim(rng, 1, big ? 280 : 11);
    // batch dims: a shared set, each operand keeps a suffix of it and may set dims to 1
    std::vector<int64_t> batch = {random_dim(rng, 1, 3), random_dim(rng, 1, 3)};
    auto make = [&](int rank, bool is_a) {
      std::vector<int64_t> s;
      for (int i = 0; i < rank - 2; ++i) {
        int64_t d = batch[static_cast<size_t>(2 - (rank - 2) + i)];
        s.push_back(rng() % 3 == 0 ? 1 : d);
      }
      if (rank == 1) return std::vector<int64_t>{k};
      if (is_a) {
        s.push_back(m);
        s.push_back(k);
      } else {
        s.push_back(k);
        s.push_back(n);
      }
      return s;
    };
    HostTensor a = random_f32(rng, Shape::from(make(ra, true))), b = random_f32(rng, Shape::from(make(rb, false)));
    fb::MatMulOptionsT o;
    o.activation = kActivations[rng() % 10];
    o.activation_min = o.activation == fb::Activation::HardSigmoid ? 0.3f : -0.5f;
    o.activation_max = 0.5f;
    HostTensor bias = random_f32(rng, Shape{n});
    const HostTensor* bp = (rb > 1 && rng() % 2) ? &bias : nullptr;
    auto out = run_reference({OpType::MatMul, make_options(o), {&a, &b, bp}});
    REQUIRE(out.size() == 1);
    check_close(out[0], matmul_ref(a, b, bp, o), 1e-4, 2e-5,
                "MatMul A " + a.shape.str() + " B " + b.shape.str() + (bp ? " bias" : "") +
                    " activation=" + fb::EnumNameActivation(o.activation));
  }
}

TEST_CASE("matmul: hand-computed vector cases, empty inner dim and rejected shapes") {
  fb::MatMulOptionsT o;
  HostTensor v = HostTensor::f32({3}, {1, 2, 3});
  HostTensor mat = HostTensor::f32({3, 2}, {1, 0, 0, 1, 1, 1});
  auto vm = run_reference({OpType::MatMul, make_options(o), {&v, &mat}});
  REQUIRE(vm.size() == 1);
  check_equal(vm[0], HostTensor::f32({2}, {4, 5}), "MatMul [3] x [3x2]");
  auto dot = run_reference({OpType::MatMul, make_options(o), {&v, &v}});
  REQUIRE(dot.size() == 1);
  check_equal(dot[0], HostTensor::f32({}, {14}), "MatMul [3] x [3]");

  // K = 0: a sum of nothing, so the bias alone.
  HostTensor a0(DType::Float32, Shape{2, 0}), b0(DType::Float32, Shape{0, 3});
  HostTensor bias = HostTensor::f32({3}, {1, 2, 3});
  auto e = run_reference({OpType::MatMul, make_options(o), {&a0, &b0, &bias}});
  REQUIRE(e.size() == 1);
  check_equal(e[0], HostTensor::f32({2, 3}, {1, 2, 3, 1, 2, 3}), "MatMul [2x0] x [0x3] + bias");

  std::vector<HostTensor> res;
  HostTensor a(DType::Float32, Shape{2, 4, 3}), b(DType::Float32, Shape{3, 3, 5});
  Status st = try_run_reference({OpType::MatMul, make_options(o), {&a, &b}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("batch dimensions of A [2x4x3] and B [3x3x5] do not broadcast") != std::string::npos,
                st.message());
  HostTensor bk(DType::Float32, Shape{4, 5});
  st = try_run_reference({OpType::MatMul, make_options(o), {&a, &bk}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("inner dimensions differ") != std::string::npos, st.message());
}

}  // namespace tern::test
