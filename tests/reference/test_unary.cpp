// Unary elementwise reference kernels: float32 ops against the C library in double with a
// tolerance per op, integer ops against int64 arithmetic, special values (zeros, infinities, NaN,
// halves for Round) and the dtype rules.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "data_test_util.h"
#include "support/harness.h"

namespace tern::test {

namespace {

struct FloatCase {
  OpType op;
  float lo, hi;                     // input range for random data
  double rtol, atol;
  double (*f)(double x, double a, double b);  // a, b: the op's parameters
  fb::NodeOptions opts = fb::NodeOptions::NONE;
  float a = 0, b = 0;
};

fb::NodeOptionsUnion options_for(const FloatCase& c) {
  if (c.opts == fb::NodeOptions::ClipOptions) {
    fb::ClipOptionsT o;
    o.min = c.a;
    o.max = c.b;
    return make_options(o);
  }
  if (c.opts == fb::NodeOptions::AlphaBetaOptions) {
    fb::AlphaBetaOptionsT o;
    o.alpha = c.a;
    o.beta = c.b;
    return make_options(o);
  }
  return {};
}

double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

const FloatCase kFloatCases[] = {
    {OpType::Relu, -5, 5, 0, 0, [](double x, double, double) { return x > 0 ? x : 0.0; }},
    {OpType::Clip, -5, 5, 0, 0, [](double x, double a, double b) { return std::min(std::max(x, a), b); },
     fb::NodeOptions::ClipOptions, -1.25f, 2.5f},
    {OpType::Clip, -5, 5, 0, 0, [](double x, double a, double) { return std::max(x, a); },
     fb::NodeOptions::ClipOptions, 0.5f, INFINITY},
    {OpType::Sigmoid, -30, 30, 2e-6, 1e-7, [](double x, double, double) { return 1 / (1 + std::exp(-x)); }},
    {OpType::HardSigmoid, -8, 8, 1e-6, 1e-7, [](double x, double a, double b) { return clamp01(a * x + b); },
     fb::NodeOptions::AlphaBetaOptions, 0.2f, 0.5f},
    {OpType::HardSwish, -8, 8, 1e-6, 1e-6, [](double x, double, double) { return x * clamp01(x / 6 + 0.5); }},
    {OpType::Tanh, -6, 6, 2e-6, 1e-7, [](double x, double, double) { return std::tanh(x); }},
    {OpType::Erf, -4, 4, 2e-6, 1e-7, [](double x, double, double) { return std::erf(x); }},
    {OpType::Exp, -20, 20, 2e-6, 0, [](double x, double, double) { return std::exp(x); }},
    {OpType::Log, 1e-3f, 1e3f, 2e-6, 1e-7, [](double x, double, double) { return std::log(x); }},
    {OpType::Sqrt, 0, 100, 1e-6, 0, [](double x, double, double) { return std::sqrt(x); }},
    {OpType::Neg, -5, 5, 0, 0, [](double x, double, double) { return -x; }},
    {OpType::Abs, -5, 5, 0, 0, [](double x, double, double) { return std::fabs(x); }},
    {OpType::Softplus, -30, 30, 2e-6, 1e-7, [](double x, double, double) { return std::log(1 + std::exp(x)); }},
    {OpType::Reciprocal, 0.01f, 100, 1e-6, 0, [](double x, double, double) { return 1 / x; }},
    {OpType::Reciprocal, -100, -0.01f, 1e-6, 0, [](double x, double, double) { return 1 / x; }},
    {OpType::LeakyRelu, -5, 5, 1e-6, 0, [](double x, double a, double) { return x >= 0 ? x : a * x; },
     fb::NodeOptions::AlphaBetaOptions, 0.01f, 0},
    {OpType::Elu, -10, 5, 2e-6, 1e-7, [](double x, double a, double) { return x >= 0 ? x : a * (std::exp(x) - 1); },
     fb::NodeOptions::AlphaBetaOptions, 1.5f, 0},
    {OpType::Floor, -50, 50, 0, 0, [](double x, double, double) { return std::floor(x); }},
    {OpType::Ceil, -50, 50, 0, 0, [](double x, double, double) { return std::ceil(x); }},
    {OpType::Round, -50, 50, 0, 0, [](double x, double, double) { return std::nearbyint(x); }},
    {OpType::Sin, -10, 10, 0, 2e-6, [](double x, double, double) { return std::sin(x); }},
    {OpType::Cos, -10, 10, 0, 2e-6, [](double x, double, double) { return std::cos(x); }},
    {OpType::Sign, -5, 5, 0, 0, [](double x, double, double) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }},
};

std::string describe(const FloatCase& c, const Shape& s) {
  std::string w = std::string(ops::op_name(c.op)) + " float32 X " + s.str();
  if (c.opts != fb::NodeOptions::NONE) w += " params (" + std::to_string(c.a) + ", " + std::to_string(c.b) + ")";
  return w;
}

}  // namespace

TEST_CASE("unary: every float32 op on random shapes against double-precision math") {
  std::mt19937 rng(2024);
  for (const FloatCase& c : kFloatCases) {
    for (int trial = 0; trial < 6; ++trial) {
      int rank = static_cast<int>(rng() % 5);
      Shape s;
      s.rank = rank;
      for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, trial == 5 ? 0 : 1, 9);
      HostTensor x = random_f32(rng, s, c.lo, c.hi);
      // exact halves exercise Round's ties and Floor/Ceil on integers
      if (c.op == OpType::Round || c.op == OpType::Floor || c.op == OpType::Ceil)
        for (int64_t i = 0; i < x.numel(); i += 2) x.data<float>()[i] = std::floor(x.f(i)) + 0.5f * (i % 4 == 0);
      auto out = run_reference({c.op, options_for(c), {&x}});
      REQUIRE(out.size() == 1);
      HostTensor want(DType::Float32, s);
      for (int64_t i = 0; i < x.numel(); ++i) want.data<float>()[i] = static_cast<float>(c.f(x.f(i), c.a, c.b));
      check_close(out[0], want, c.rtol, c.atol, describe(c, s));
    }
  }
}

TEST_CASE("unary: special float values") {
  const float inf = INFINITY, nan = NAN;
  HostTensor x = HostTensor::f32({8}, {0.0f, -0.0f, inf, -inf, nan, 1e30f, -1e30f, 1e-30f});
  auto run = [&](OpType op, fb::NodeOptionsUnion o = {}) {
    auto out = run_reference({op, std::move(o), {&x}});
    REQUIRE(out.size() == 1);
    return out[0];
  };
  check_close(run(OpType::Relu), HostTensor::f32({8}, {0, 0, inf, 0, nan, 1e30f, 0, 1e-30f}), 0, 0, "Relu specials");
  check_close(run(OpType::Sigmoid), HostTensor::f32({8}, {0.5f, 0.5f, 1, 0, nan, 1, 0, 0.5f}), 0, 0, "Sigmoid specials");
  check_close(run(OpType::Softplus), HostTensor::f32({8}, {std::log(2.0f), std::log(2.0f), inf, 0, nan, 1e30f, 0, std::log(2.0f)}),
              1e-7, 0, "Softplus specials");
  check_close(run(OpType::Tanh), HostTensor::f32({8}, {0, 0, 1, -1, nan, 1, -1, 1e-30f}), 0, 0, "Tanh specials");
  check_close(run(OpType::Sign), HostTensor::f32({8}, {0, 0, 1, -1, nan, 1, -1, 1}), 0, 0, "Sign specials");
  check_close(run(OpType::Reciprocal), HostTensor::f32({8}, {inf, -inf, 0, 0, nan, 1e-30f, -1e-30f, 1e30f}), 1e-6, 0,
              "Reciprocal specials");
  fb::ClipOptionsT clip;
  clip.min = -1;
  clip.max = 1;
  check_close(run(OpType::Clip, make_options(clip)), HostTensor::f32({8}, {0, 0, 1, -1, nan, 1, -1, 1e-30f}), 0, 0,
              "Clip [-1, 1] specials (NaN passes through)");
  fb::ClipOptionsT crossed;  // min > max: numpy's clip gives max everywhere
  crossed.min = 2;
  crossed.max = 1;
  HostTensor y = HostTensor::f32({3}, {0, 1.5f, 3});
  auto c = run_reference({OpType::Clip, make_options(crossed), {&y}});
  REQUIRE(c.size() == 1);
  check_close(c[0], HostTensor::f32({3}, {1, 1, 1}), 0, 0, "Clip with min 2 > max 1");
}

TEST_CASE("unary: Round is half to even, Floor/Ceil exact") {
  HostTensor x = HostTensor::f32({11}, {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 0.49999997f, -0.49999997f, 2.5000002f,
                                        8388609.0f, -3.7f});
  auto r = run_reference({OpType::Round, {}, {&x}});
  REQUIRE(r.size() == 1);
  check_close(r[0], HostTensor::f32({11}, {-2, -2, -0.0f, 0, 2, 2, 0, -0.0f, 3, 8388609.0f, -4}), 0, 0,
              "Round X [11] (ONNX: halves to even)");
  auto f = run_reference({OpType::Floor, {}, {&x}});
  REQUIRE(f.size() == 1);
  check_close(f[0], HostTensor::f32({11}, {-3, -2, -1, 0, 1, 2, 0, -1, 2, 8388609.0f, -4}), 0, 0, "Floor X [11]");
}

namespace {

// Integer ops computed in int64 then narrowed (modular, as the kernel wraps); compared bytewise
// because check_equal goes through double, which cannot tell int64 extremes apart.
template <typename T>
void check_integer_ops(DType dt, std::mt19937& rng) {
  constexpr int64_t lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
  Shape s{static_cast<int64_t>(random_dim(rng, 3, 40))};
  HostTensor x(dt, s);
  std::uniform_int_distribution<int64_t> dist(std::max<int64_t>(lo, -1000), std::min<int64_t>(hi, 1000));
  for (int64_t i = 0; i < x.numel(); ++i) x.data<T>()[i] = static_cast<T>(dist(rng));
  x.data<T>()[0] = static_cast<T>(lo);  // Neg/Abs of the most negative value wrap to itself
  x.data<T>()[1] = static_cast<T>(hi);
  x.data<T>()[2] = 0;
  struct Op {
    OpType op;
    int64_t (*f)(int64_t, int64_t, int64_t);
    float min, max;
  } cases[] = {
      {OpType::Relu, [](int64_t v, int64_t, int64_t) { return v > 0 ? v : 0; }, 0, 0},
      {OpType::Neg, [](int64_t v, int64_t, int64_t) { return -v; }, 0, 0},
      {OpType::Abs, [](int64_t v, int64_t, int64_t) { return v < 0 ? -v : v; }, 0, 0},
      {OpType::Sign, [](int64_t v, int64_t, int64_t) { return int64_t{v > 0} - int64_t{v < 0}; }, 0, 0},
      {OpType::Clip, [](int64_t v, int64_t a, int64_t b) { return std::min(std::max(v, a), b); }, -7, 93},
      {OpType::Clip, [](int64_t v, int64_t a, int64_t) { return std::max(v, a); }, 5, INFINITY},
      {OpType::Clip, [](int64_t v, int64_t, int64_t) { return v; }, -1e30f, 1e30f},  // bounds past the type
  };
  for (const Op& c : cases) {
    fb::NodeOptionsUnion o;
    if (c.op == OpType::Clip) {
      fb::ClipOptionsT co;
      co.min = c.min;
      co.max = c.max;
      o = make_options(co);
    }
    auto out = run_reference({c.op, std::move(o), {&x}});
    REQUIRE(out.size() == 1);
    HostTensor want(dt, s);
    int64_t a = std::isinf(c.min) ? lo : static_cast<int64_t>(std::max<double>(c.min, static_cast<double>(lo)));
    int64_t b = std::isinf(c.max) ? hi : static_cast<int64_t>(std::min<double>(c.max, static_cast<double>(hi)));
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t v = static_cast<int64_t>(x.data<T>()[i]);
      // int64's own extremes: the negation wraps (computed in unsigned to stay defined)
      int64_t r = (sizeof(T) == 8 && v == lo && (c.op == OpType::Neg || c.op == OpType::Abs)) ? lo : c.f(v, a, b);
      want.data<T>()[i] = static_cast<T>(r);
    }
    check_bytes(out[0], want,
                std::string(ops::op_name(c.op)) + " " + dtype_name(dt) + " X " + s.str() +
                    (c.op == OpType::Clip ? " min " + std::to_string(c.min) + " max " + std::to_string(c.max) : ""));
  }
}

}  // namespace

TEST_CASE("unary: Relu/Neg/Abs/Sign/Clip on every integer dtype") {
  std::mt19937 rng(77);
  check_integer_ops<int8_t>(DType::Int8, rng);
  check_integer_ops<uint8_t>(DType::UInt8, rng);
  check_integer_ops<int16_t>(DType::Int16, rng);
  check_integer_ops<int32_t>(DType::Int32, rng);
  check_integer_ops<int64_t>(DType::Int64, rng);
}

TEST_CASE("unary: Not on bool, scalars and empty tensors") {
  HostTensor b = HostTensor::of<uint8_t>(DType::Bool, {2, 3}, {1, 0, 0, 1, 1, 0});
  auto n = run_reference({OpType::Not, {}, {&b}});
  REQUIRE(n.size() == 1);
  check_equal(n[0], HostTensor::of<uint8_t>(DType::Bool, {2, 3}, {0, 1, 1, 0, 0, 1}), "Not bool [2x3]");

  HostTensor scalar = HostTensor::f32({}, {-2.0f});
  auto e = run_reference({OpType::Exp, {}, {&scalar}});
  REQUIRE(e.size() == 1);
  check_close(e[0], HostTensor::f32({}, {std::exp(-2.0f)}), 1e-7, 0, "Exp on a rank-0 scalar");

  HostTensor empty(DType::Float32, {3, 0, 2});
  auto z = run_reference({OpType::Sigmoid, {}, {&empty}});
  REQUIRE(z.size() == 1);
  CHECK(z[0].shape == Shape{3, 0, 2});
}

TEST_CASE("unary: unsupported dtypes are clean errors") {
  std::vector<HostTensor> out;
  HostTensor i = HostTensor::i64({2}, {1, 2});
  Status s = try_run_reference({OpType::Exp, {}, {&i}}, &out);
  CHECK(s.code() == StatusCode::kUnsupported);
  HostTensor h(DType::Float16, {2});
  s = try_run_reference({OpType::Relu, {}, {&h}}, &out);
  CHECK(s.code() == StatusCode::kUnsupported);
  CHECK(s.message().find("float16") != std::string::npos);
  s = try_run_reference({OpType::Not, {}, {&i}}, &out);
  CHECK(s.code() == StatusCode::kInvalidArgument);
}

}  // namespace tern::test
