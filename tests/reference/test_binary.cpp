// Binary elementwise reference kernels: broadcasting on random shapes against a direct
// index-by-index formulation, and dtype rules.
#include <doctest/doctest.h>

#include "support/harness.h"

namespace tern::test {

namespace {

// Expected result of a broadcast binary op computed by mapping each output multi-index back to
// each input (an independent formulation from the kernel's running-offset iteration).
HostTensor naive_broadcast(const HostTensor& a, const HostTensor& b, const Shape& out, float (*f)(float, float)) {
  HostTensor y(DType::Float32, out);
  int64_t idx[kMaxRank];
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t rem = o;
    for (int d = out.rank - 1; d >= 0; --d) {
      idx[d] = rem % out.dims[d];
      rem /= out.dims[d];
    }
    auto flat = [&](const Shape& s) {
      int64_t f = 0;
      for (int d = 0; d < s.rank; ++d) {
        int od = out.rank - s.rank + d;
        f = f * s.dims[d] + (s.dims[d] == 1 ? 0 : idx[od]);
      }
      return f;
    };
    y.data<float>()[o] = f(a.f(flat(a.shape)), b.f(flat(b.shape)));
  }
  return y;
}

}  // namespace

TEST_CASE("binary: Add/Sub/Mul/Div/Max broadcast on random shapes") {
  std::mt19937 rng(1234);
  struct K {
    OpType op;
    float (*f)(float, float);
  } kinds[] = {
      {OpType::Add, [](float x, float y) { return x + y; }},
      {OpType::Sub, [](float x, float y) { return x - y; }},
      {OpType::Mul, [](float x, float y) { return x * y; }},
      {OpType::Div, [](float x, float y) { return x / y; }},
      {OpType::Max, [](float x, float y) { return x > y ? x : y; }},
  };
  for (int trial = 0; trial < 40; ++trial) {
    int rank = 1 + static_cast<int>(rng() % 5);
    Shape out;
    out.rank = rank;
    for (int d = 0; d < rank; ++d) out[d] = random_dim(rng, 1, 9);
    // each operand drops leading dims and/or sets some dims to 1
    auto operand = [&]() {
      Shape s;
      int drop = static_cast<int>(rng() % static_cast<unsigned>(rank));
      s.rank = rank - drop;
      for (int d = 0; d < s.rank; ++d) s[d] = (rng() % 3 == 0) ? 1 : out[d + drop];
      return s;
    };
    Shape sa = operand(), sb = operand();
    Shape expect_shape;
    REQUIRE(ops::broadcast_shapes(sa, sb, &expect_shape));
    HostTensor a = random_f32(rng, sa), b = random_f32(rng, sb, 0.5f, 2.f);
    for (const K& k : kinds) {
      auto out_t = run_reference({k.op, {}, {&a, &b}});
      REQUIRE(out_t.size() == 1);
      check_close(out_t[0], naive_broadcast(a, b, expect_shape, k.f), 1e-6, 1e-6,
                  std::string(ops::op_name(k.op)) + " " + sa.str() + " with " + sb.str());
    }
  }
}

TEST_CASE("binary: comparisons give bool, integer Add, mismatched shapes are an error") {
  HostTensor a = HostTensor::f32({3}, {1, 2, 3});
  HostTensor b = HostTensor::f32({1}, {2});
  auto lt = run_reference({OpType::Less, {}, {&a, &b}});
  REQUIRE(lt.size() == 1);
  check_equal(lt[0], HostTensor::of<uint8_t>(DType::Bool, {3}, {1, 0, 0}), "Less");

  HostTensor i = HostTensor::i64({2, 1}, {10, 20});
  HostTensor j = HostTensor::i64({3}, {1, 2, 3});
  auto s = run_reference({OpType::Add, {}, {&i, &j}});
  REQUIRE(s.size() == 1);
  check_equal(s[0], HostTensor::i64({2, 3}, {11, 12, 13, 21, 22, 23}), "int64 Add");

  HostTensor c = HostTensor::f32({4}, {1, 2, 3, 4});
  std::vector<HostTensor> out;
  Status st = try_run_reference({OpType::Add, {}, {&a, &c}}, &out);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("[3] and [4] do not broadcast") != std::string::npos);
}

}  // namespace tern::test
