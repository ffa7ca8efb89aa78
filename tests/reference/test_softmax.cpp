// Softmax / LogSoftmax reference kernels: random shapes and axes against exp(x - max) / sum
// computed in double, rows summing to 1, LogSoftmax equal to the log of the double softmax, inputs
// large enough to overflow a naive exp, -inf entries, and the errors inference reports.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

fb::AxisOptionsT axis_options(int axis) {
  fb::AxisOptionsT o;
  o.axis = axis;
  return o;
}

// Softmax along `axis` in double, indexing each row through its stride.
HostTensor softmax_ref(const HostTensor& x, int axis, bool log) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const int64_t n = x.shape[axis];
  HostTensor y(DType::Float32, x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t a) { return (o * n + a) * inner + j; };
      double mx = -INFINITY, sum = 0;
      for (int64_t a = 0; a < n; ++a) mx = std::max(mx, double(x.f(at(a))));
      for (int64_t a = 0; a < n; ++a) sum += std::exp(double(x.f(at(a))) - mx);
      for (int64_t a = 0; a < n; ++a) {
        double p = std::exp(double(x.f(at(a))) - mx) / sum;
        y.data<float>()[at(a)] = float(log ? std::log(p) : p);
      }
    }
  return y;
}

}  // namespace

TEST_CASE("softmax: random shapes and axes vs exp(x - max) / sum in double, rows sum to 1") {
  std::mt19937 rng(1313);
  for (int trial = 0; trial < 60; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    Shape s;
    s.rank = rank;
    // one long dim every few trials (long rows / columns), the others small
    const int long_dim = trial % 5 == 0 ? static_cast<int>(rng() % static_cast<unsigned>(rank)) : -1;
    for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, 1, d == long_dim ? 300 : 9);
    const int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    // a wide range, and every few trials values large enough that exp(x) overflows float
    const float scale = trial % 3 == 0 ? 200.f : 6.f;
    HostTensor x = random_f32(rng, s, -scale, scale);
    const std::string what = " X " + s.str() + " axis=" + std::to_string(axis) + " range +-" + std::to_string(scale);
    auto sm = run_reference({OpType::Softmax, make_options(axis_options(axis)), {&x}});
    REQUIRE(sm.size() == 1);
    check_close(sm[0], softmax_ref(x, axis, false), 1e-5, 1e-7, "Softmax" + what);

    // Summing along the axis must give 1 for every row.
    int64_t inner = 1;
    for (int i = axis + 1; i < rank; ++i) inner *= s[i];
    const int64_t n = s[axis], outer = s.numel() / (n * inner);
    Shape rows{outer, inner};
    HostTensor sums(DType::Float32, rows), ones(DType::Float32, rows);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        double t = 0;
        for (int64_t a = 0; a < n; ++a) t += sm[0].f((o * n + a) * inner + j);
        sums.data<float>()[o * inner + j] = float(t);
        ones.data<float>()[o * inner + j] = 1.0f;
      }
    check_close(sums, ones, 0, 1e-5, "Softmax row sums" + what);

    auto ls = run_reference({OpType::LogSoftmax, make_options(axis_options(axis)), {&x}});
    REQUIRE(ls.size() == 1);
    check_close(ls[0], softmax_ref(x, axis, true), 1e-5, 1e-5, "LogSoftmax" + what);
  }
}

TEST_CASE("softmax: hand cases with -inf, large offsets and an empty axis") {
  const float inf = std::numeric_limits<float>::infinity();
  HostTensor x = HostTensor::f32({2, 3}, {0, -inf, 0, 1000, 1000, 1000});
  auto sm = run_reference({OpType::Softmax, make_options(axis_options(1)), {&x}});
  REQUIRE(sm.size() == 1);
  check_close(sm[0], HostTensor::f32({2, 3}, {0.5f, 0, 0.5f, 1.f / 3, 1.f / 3, 1.f / 3}), 1e-6, 1e-7,
              "Softmax [[0,-inf,0],[1000,1000,1000]] axis 1");
  auto ls = run_reference({OpType::LogSoftmax, make_options(axis_options(1)), {&x}});
  REQUIRE(ls.size() == 1);
  const float l2 = -std::log(2.0f), l3 = -std::log(3.0f);
  check_close(ls[0], HostTensor::f32({2, 3}, {l2, -inf, l2, l3, l3, l3}), 1e-6, 1e-7, "LogSoftmax with -inf");

  // ONNX's test_logsoftmax_large_number: the result must keep its digits next to 10003.
  HostTensor big = HostTensor::f32({1, 4}, {10000, 10001, 10002, 10003});
  auto lb = run_reference({OpType::LogSoftmax, make_options(axis_options(1)), {&big}});
  REQUIRE(lb.size() == 1);
  check_close(lb[0], HostTensor::f32({1, 4}, {-3.4401897f, -2.4401897f, -1.4401897f, -0.4401897f}), 1e-6, 1e-6,
              "LogSoftmax [10000..10003]");

  HostTensor empty(DType::Float32, Shape{3, 0, 2});
  auto e = run_reference({OpType::Softmax, make_options(axis_options(1)), {&empty}});
  REQUIRE(e.size() == 1);
  CHECK(e[0].shape == Shape{3, 0, 2});
}

TEST_CASE("softmax: rejected axis and dtype") {
  HostTensor x(DType::Float32, Shape{2, 3});
  std::vector<HostTensor> res;
  Status st = try_run_reference({OpType::Softmax, make_options(axis_options(2)), {&x}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("axis 2 is outside X [2x3]") != std::string::npos, st.message());
  HostTensor xi = HostTensor::i64({2}, {1, 2});
  st = try_run_reference({OpType::LogSoftmax, make_options(axis_options(0)), {&xi}}, &res);
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK_MESSAGE(st.message().find("int64") != std::string::npos, st.message());
}

}  // namespace tern::test
