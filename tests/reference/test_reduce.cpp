// Reduction reference kernels against double-precision (float) and exact (integer) loops that
// visit every input element and map it to its output element: random shapes, random axis subsets
// (including the empty list = all axes), keepdims both ways, every op, float32 / int32 / int64;
// ArgMax / ArgMin with and without select_last_index on data full of ties; NaN and empty-set
// conventions; and the errors inference reports.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

template <typename T>
std::string list(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

fb::ReduceOptionsT reduce_options(std::vector<int32_t> axes, bool keepdims) {
  fb::ReduceOptionsT o;
  o.axes = std::move(axes);
  o.keepdims = keepdims;
  return o;
}

const OpType kReduceOps[] = {OpType::ReduceSum, OpType::ReduceMean, OpType::ReduceMax, OpType::ReduceMin,
                             OpType::ReduceProd};

// The expected result, accumulated in long double: out[map(i)] op= x[i] for every input index i.
template <typename T>
HostTensor reduce_ref(const HostTensor& x, OpType op, const std::vector<int32_t>& axes, bool keepdims) {
  const Shape& s = x.shape;
  std::vector<bool> red(static_cast<size_t>(s.rank), axes.empty());
  for (int32_t a : axes) red[static_cast<size_t>(a)] = true;
  std::vector<int64_t> out_dims;
  int64_t count = 1;
  for (int i = 0; i < s.rank; ++i) {
    if (red[static_cast<size_t>(i)]) count *= s[i];
    if (!red[static_cast<size_t>(i)]) out_dims.push_back(s[i]);
    else if (keepdims) out_dims.push_back(1);
  }
  Shape os = Shape::from(out_dims);
  const long double init = op == OpType::ReduceProd ? 1.0L
                           : op == OpType::ReduceMax ? -INFINITY
                           : op == OpType::ReduceMin ? INFINITY
                                                     : 0.0L;
  std::vector<long double> acc(static_cast<size_t>(os.numel()), init);
  for (int64_t f = 0; f < x.numel(); ++f) {
    int64_t rem = f, o = 0, mul = 1;
    for (int i = s.rank - 1; i >= 0; --i) {
      int64_t idx = rem % s[i];
      rem /= s[i];
      if (!red[static_cast<size_t>(i)]) {
        o += idx * mul;
        mul *= s[i];
      }
    }
    long double v = static_cast<long double>(x.data<T>()[f]);
    long double& a = acc[static_cast<size_t>(o)];
    if (op == OpType::ReduceSum || op == OpType::ReduceMean) a += v;
    else if (op == OpType::ReduceProd) a *= v;
    else if (op == OpType::ReduceMax) a = std::max(a, v);
    else a = std::min(a, v);
  }
  HostTensor y(x.dtype, os);
  for (size_t i = 0; i < acc.size(); ++i) {
    long double v = acc[i];
    if (op == OpType::ReduceMean) v = std::is_floating_point_v<T> ? v / count : std::trunc(v / count);
    y.data<T>()[i] = static_cast<T>(v);
  }
  return y;
}

template <typename T>
HostTensor random_of(std::mt19937& rng, DType dt, Shape s, int64_t lo, int64_t hi) {
  HostTensor h(dt, s);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < h.numel(); ++i) h.data<T>()[i] = static_cast<T>(d(rng));
  return h;
}

}  // namespace

TEST_CASE("reduce: every op on random shapes and axis subsets, keepdims both ways, float32 vs long double") {
  std::mt19937 rng(404);
  for (int trial = 0; trial < 80; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 5);
    Shape s;
    s.rank = rank;
    const int long_dim = trial % 7 == 0 ? static_cast<int>(rng() % static_cast<unsigned>(rank)) : -1;
    for (int d = 0; d < rank; ++d) s[d] = rng() % 6 == 0 ? 1 : random_dim(rng, 1, d == long_dim ? 300 : 7);
    std::vector<int32_t> axes;
    if (trial % 6 != 0)  // an empty list means every axis
      for (int d = 0; d < rank; ++d)
        if (rng() % 2) axes.push_back(d);
    const bool keep = rng() % 2;
    // values near 1 keep ReduceProd finite over many elements
    HostTensor x = random_f32(rng, s, 0.6f, 1.5f);
    if (trial % 2) x = random_f32(rng, s, -3.f, 3.f);
    for (OpType op : kReduceOps) {
      if (op == OpType::ReduceProd && trial % 2) continue;
      auto out = run_reference({op, make_options(reduce_options(axes, keep)), {&x}});
      REQUIRE(out.size() == 1);
      check_close(out[0], reduce_ref<float>(x, op, axes, keep), 1e-5, 1e-5,
                  std::string(ops::op_name(op)) + " X " + s.str() + " axes=" + list(axes) +
                      " keepdims=" + std::to_string(keep));
    }
  }
}

TEST_CASE("reduce: int32 and int64 Sum/Mean/Max/Min/Prod exactly") {
  std::mt19937 rng(55);
  for (int trial = 0; trial < 40; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    Shape s;
    s.rank = rank;
    for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, 1, 6);
    std::vector<int32_t> axes;
    for (int d = 0; d < rank; ++d)
      if (rng() % 2) axes.push_back(d);
    const bool keep = trial % 2;
    HostTensor x32 = random_of<int32_t>(rng, DType::Int32, s, -1000, 1000);
    HostTensor x64 = random_of<int64_t>(rng, DType::Int64, s, -100000, 100000);
    HostTensor small = random_of<int64_t>(rng, DType::Int64, s, -2, 2);
    for (OpType op : kReduceOps) {
      const std::string what = std::string(ops::op_name(op)) + " X " + s.str() + " axes=" + list(axes) +
                               " keepdims=" + std::to_string(keep);
      const HostTensor& xin = op == OpType::ReduceProd ? small : x64;
      auto o32 = run_reference({op, make_options(reduce_options(axes, keep)), {&x32}});
      auto o64 = run_reference({op, make_options(reduce_options(axes, keep)), {&xin}});
      REQUIRE(o32.size() == 1);
      REQUIRE(o64.size() == 1);
      if (op != OpType::ReduceProd) check_equal(o32[0], reduce_ref<int32_t>(x32, op, axes, keep), "int32 " + what);
      check_equal(o64[0], reduce_ref<int64_t>(xin, op, axes, keep), "int64 " + what);
    }
  }
}

TEST_CASE("reduce: hand cases: integer mean truncates, NaN propagates, empty sets, large sums") {
  HostTensor xi = HostTensor::i64({2, 2}, {-7, 0, 7, 2});
  auto mean = run_reference({OpType::ReduceMean, make_options(reduce_options({1}, false)), {&xi}});
  REQUIRE(mean.size() == 1);
  check_equal(mean[0], HostTensor::i64({2}, {-3, 4}), "int64 ReduceMean truncates toward zero");

  const float nan = std::numeric_limits<float>::quiet_NaN();
  HostTensor xn = HostTensor::f32({2, 3}, {1, nan, 3, 4, 5, 6});
  for (OpType op : {OpType::ReduceMax, OpType::ReduceMin}) {
    for (int32_t axis : {0, 1}) {
      auto r = run_reference({op, make_options(reduce_options({axis}, true)), {&xn}});
      REQUIRE(r.size() == 1);
      CHECK_MESSAGE(std::isnan(r[0].f(axis == 0 ? 1 : 0)), ops::op_name(op), " axis ", axis, " must propagate NaN");
      CHECK_MESSAGE(!std::isnan(r[0].f(axis == 0 ? 0 : 1)), ops::op_name(op), " axis ", axis, " NaN leaked");
    }
  }

  HostTensor e(DType::Float32, Shape{2, 0, 3});
  auto sum = run_reference({OpType::ReduceSum, make_options(reduce_options({1}, true)), {&e}});
  auto prod = run_reference({OpType::ReduceProd, make_options(reduce_options({1}, false)), {&e}});
  auto mx = run_reference({OpType::ReduceMax, make_options(reduce_options({1}, true)), {&e}});
  REQUIRE(sum.size() == 1);
  REQUIRE(prod.size() == 1);
  REQUIRE(mx.size() == 1);
  check_equal(sum[0], HostTensor::f32({2, 1, 3}, std::vector<float>(6, 0.f)), "ReduceSum over an empty axis");
  check_equal(prod[0], HostTensor::f32({2, 3}, std::vector<float>(6, 1.f)), "ReduceProd over an empty axis");
  check_equal(mx[0], HostTensor::f32({2, 1, 3}, std::vector<float>(6, -INFINITY)), "ReduceMax over an empty axis");

  // A long run: float accumulation must not drift (a naive running float sum of 1e6 values of
  // 0.1 is off by ~1e-3 relative).
  HostTensor big = HostTensor::f32({1000000}, std::vector<float>(1000000, 0.1f));
  auto bs = run_reference({OpType::ReduceMean, make_options(reduce_options({}, false)), {&big}});
  REQUIRE(bs.size() == 1);
  check_close(bs[0], HostTensor::f32({}, {0.1f}), 1e-6, 0, "ReduceMean of 1e6 x 0.1");
}

TEST_CASE("reduce: inference rejects bad axes") {
  HostTensor x(DType::Float32, Shape{2, 3});
  std::vector<HostTensor> res;
  Status st = try_run_reference({OpType::ReduceSum, make_options(reduce_options({2}, true)), {&x}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("axis 2 is outside X [2x3]") != std::string::npos, st.message());
  st = try_run_reference({OpType::ReduceMax, make_options(reduce_options({1, 1}, true)), {&x}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("axis 1 is listed twice") != std::string::npos, st.message());
}

namespace {

fb::ArgOptionsT arg_options(int axis, bool keepdims, bool last) {
  fb::ArgOptionsT o;
  o.axis = axis;
  o.keepdims = keepdims;
  o.select_last_index = last;
  return o;
}

// First (or last) index of the max (or min) along `axis`, by a direct scan of each line.
template <typename T>
HostTensor arg_ref(const HostTensor& x, int axis, bool keepdims, bool last, bool is_max) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const int64_t n = x.shape[axis];
  std::vector<int64_t> od;
  for (int i = 0; i < x.shape.rank; ++i)
    if (i != axis) od.push_back(x.shape[i]);
    else if (keepdims) od.push_back(1);
  HostTensor y(DType::Int64, Shape::from(od));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      int64_t at = 0;
      for (int64_t a = 1; a < n; ++a) {
        T v = x.data<T>()[(o * n + a) * inner + j], b = x.data<T>()[(o * n + at) * inner + j];
        bool take = is_max ? (v > b || (last && v == b)) : (v < b || (last && v == b));
        if (take) at = a;
      }
      y.data<int64_t>()[o * inner + j] = at;
    }
  return y;
}

}  // namespace

TEST_CASE("arg_reduce: ArgMax / ArgMin with ties, select_last_index, keepdims, float and int") {
  std::mt19937 rng(77);
  for (int trial = 0; trial < 60; ++trial) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    Shape s;
    s.rank = rank;
    // one long dim every few trials (long rows / columns), the others small
    const int long_dim = trial % 10 == 0 ? static_cast<int>(rng() % static_cast<unsigned>(rank)) : -1;
    for (int d = 0; d < rank; ++d) s[d] = random_dim(rng, 1, d == long_dim ? 300 : 7);
    const int axis = static_cast<int>(rng() % static_cast<unsigned>(rank));
    const bool keep = rng() % 2, last = rng() % 2;
    // few distinct values, so ties are everywhere and the tie rule matters
    HostTensor xf(DType::Float32, s);
    for (int64_t i = 0; i < xf.numel(); ++i) xf.data<float>()[i] = float(int(rng() % 4)) - 1.5f;
    HostTensor xi = random_of<int32_t>(rng, DType::Int32, s, -2, 2);
    for (OpType op : {OpType::ArgMax, OpType::ArgMin}) {
      const bool is_max = op == OpType::ArgMax;
      const std::string what = std::string(ops::op_name(op)) + " X " + s.str() + " axis=" + std::to_string(axis) +
                               " keepdims=" + std::to_string(keep) + " select_last_index=" + std::to_string(last);
      auto of = run_reference({op, make_options(arg_options(axis, keep, last)), {&xf}});
      auto oi = run_reference({op, make_options(arg_options(axis, keep, last)), {&xi}});
      REQUIRE(of.size() == 1);
      REQUIRE(oi.size() == 1);
      check_equal(of[0], arg_ref<float>(xf, axis, keep, last, is_max), "float32 " + what);
      check_equal(oi[0], arg_ref<int32_t>(xi, axis, keep, last, is_max), "int32 " + what);
    }
  }
}

TEST_CASE("arg_reduce: hand cases with NaN, and an empty axis rejected") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // numpy: argmax / argmin return the first NaN; the last one with select_last_index
  HostTensor x = HostTensor::f32({5}, {1, nan, 7, nan, -3});
  auto first = run_reference({OpType::ArgMax, make_options(arg_options(0, false, false)), {&x}});
  auto last = run_reference({OpType::ArgMin, make_options(arg_options(0, true, true)), {&x}});
  REQUIRE(first.size() == 1);
  REQUIRE(last.size() == 1);
  check_equal(first[0], HostTensor::i64({}, {1}), "ArgMax [1,nan,7,nan,-3]");
  check_equal(last[0], HostTensor::i64({1}, {3}), "ArgMin select_last_index [1,nan,7,nan,-3]");

  HostTensor t = HostTensor::f32({2, 3}, {3, 9, 9, 4, 4, 1});
  auto am = run_reference({OpType::ArgMax, make_options(arg_options(1, false, true)), {&t}});
  REQUIRE(am.size() == 1);
  check_equal(am[0], HostTensor::i64({2}, {2, 1}), "ArgMax [[3,9,9],[4,4,1]] last index");

  HostTensor e(DType::Float32, Shape{2, 0});
  std::vector<HostTensor> res;
  Status st = try_run_reference({OpType::ArgMax, make_options(arg_options(1, true, false)), {&e}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("axis 1 is empty") != std::string::npos, st.message());
}

}  // namespace tern::test
