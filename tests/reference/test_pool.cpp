// Pooling reference kernels against explicit window enumeration: for every output element, every
// kernel tap's input position is listed and classified as inside the input, inside the padding, or
// past the padded extent (ceil_mode's overhang). Random 1-D/2-D/3-D shapes with ceil_mode,
// count_include_pad, dilations and asymmetric pads; the output shape is recomputed here from the
// ONNX formula; global pools; int8 MaxPool; ONNX's own hand cases; and inference errors.
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

// Output length on one axis: floor or ceil of (in + pads - span) / stride, plus one; with ceil_mode
// the last window must start inside the input or its begin padding.
int64_t pool_out(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t s, int64_t d, bool ceil_mode) {
  const double span = double(d) * double(k - 1) + 1;
  const double q = (double(in + pb + pe) - span) / double(s);
  int64_t o = int64_t(ceil_mode ? std::ceil(q) : std::floor(q)) + 1;
  if (ceil_mode && (o - 1) * s >= in + pb) --o;
  return o;
}

template <typename T>
HostTensor pool_ref(const HostTensor& x, const fb::PoolOptionsT& o, bool is_max) {
  const int sp = x.shape.rank - 2;
  std::vector<int64_t> xd = x.shape.vec(), yd = {xd[0], xd[1]};
  for (int i = 0; i < sp; ++i)
    yd.push_back(pool_out(xd[2 + i], o.pads[i], o.pads[i + sp], o.kernel_shape[i], o.strides[i], o.dilations[i],
                          o.ceil_mode));
  HostTensor y(x.dtype, Shape::from(yd));
  int64_t taps = 1;
  for (int32_t k : o.kernel_shape) taps *= k;
  int64_t plane_in = 1, plane_out = 1;
  for (int i = 0; i < sp; ++i) {
    plane_in *= xd[2 + i];
    plane_out *= yd[2 + i];
  }
  for (int64_t nc = 0; nc < xd[0] * xd[1]; ++nc)
    for (int64_t p = 0; p < plane_out; ++p) {
      std::vector<int64_t> oi(static_cast<size_t>(sp));
      for (int i = sp - 1, r = int(p); i >= 0; --i) {
        oi[i] = r % yd[2 + i];
        r /= int(yd[2 + i]);
      }
      double sum = 0, best = -std::numeric_limits<double>::infinity();
      int64_t inside = 0, padded = 0;
      for (int64_t t = 0; t < taps; ++t) {
        bool in_input = true, in_padded = true;
        int64_t flat = 0;
        for (int i = sp - 1, r = int(t); i >= 0; --i) {
          int64_t k = r % o.kernel_shape[i];
          r /= o.kernel_shape[i];
          int64_t pos = oi[i] * o.strides[i] - o.pads[i] + k * o.dilations[i];
          in_input = in_input && pos >= 0 && pos < xd[2 + i];
          in_padded = in_padded && pos >= -o.pads[i] && pos < xd[2 + i] + o.pads[i + sp];
          int64_t stride = 1;
          for (int j = i + 1; j < sp; ++j) stride *= xd[2 + j];
          flat += pos * stride;
        }
        padded += in_padded;
        if (!in_input) continue;
        ++inside;
        double v = double(x.data<T>()[nc * plane_in + flat]);
        sum += v;
        best = std::max(best, v);
      }
      double v = is_max ? best : sum / double(o.count_include_pad ? padded : inside);
      if (is_max && inside == 0) v = double(std::numeric_limits<T>::lowest());
      if constexpr (std::is_floating_point_v<T>)
        if (is_max && inside == 0) v = -std::numeric_limits<double>::infinity();
      y.data<T>()[nc * plane_out + p] = T(v);
    }
  return y;
}

std::string pool_what(OpType op, const HostTensor& x, const fb::PoolOptionsT& o) {
  return std::string(ops::op_name(op)) + " X " + x.shape.str() + " kernel=" + list(o.kernel_shape) +
         " strides=" + list(o.strides) + " dilations=" + list(o.dilations) + " pads=" + list(o.pads) +
         " ceil_mode=" + std::to_string(o.ceil_mode) + " count_include_pad=" + std::to_string(o.count_include_pad);
}

fb::PoolOptionsT pool_options(std::vector<int32_t> k, std::vector<int32_t> s, std::vector<int32_t> pads,
                              bool ceil_mode = false, bool include_pad = false) {
  fb::PoolOptionsT o;
  o.dilations.assign(k.size(), 1);
  o.kernel_shape = std::move(k);
  o.strides = std::move(s);
  o.pads = std::move(pads);
  o.ceil_mode = ceil_mode;
  o.count_include_pad = include_pad;
  return o;
}

}  // namespace

TEST_CASE("pool: AveragePool / MaxPool on random shapes, ceil_mode, count_include_pad, dilations, pads") {
  std::mt19937 rng(606);
  int ran = 0;
  for (int trial = 0; ran < 200 && trial < 3000; ++trial) {
    const int sp = 1 + trial % 3;
    std::vector<int64_t> xd = {random_dim(rng, 1, 2), random_dim(rng, 1, 3)};
    fb::PoolOptionsT o;
    o.ceil_mode = rng() % 2;
    o.count_include_pad = rng() % 2;
    for (int i = 0; i < sp; ++i) {
      xd.push_back(random_dim(rng, 1, sp == 3 ? 7 : (sp == 2 ? 13 : 40)));
      o.kernel_shape.push_back(static_cast<int32_t>(random_dim(rng, 1, 4)));
      o.strides.push_back(static_cast<int32_t>(1 + rng() % 3));
      o.dilations.push_back(static_cast<int32_t>(rng() % 4 == 0 ? 2 : 1));
    }
    for (int i = 0; i < 2 * sp; ++i) {
      int32_t k = o.kernel_shape[static_cast<size_t>(i % sp)] * o.dilations[static_cast<size_t>(i % sp)];
      o.pads.push_back(static_cast<int32_t>(rng() % static_cast<unsigned>(std::min(k, 3))));
    }
    bool valid = true;
    for (int i = 0; i < sp; ++i)
      valid = valid && xd[2 + i] + o.pads[i] + o.pads[i + sp] >= int64_t(o.dilations[i]) * (o.kernel_shape[i] - 1) + 1;
    if (!valid) continue;
    HostTensor x = random_f32(rng, Shape::from(xd), -5.f, 5.f);
    for (OpType op : {OpType::AveragePool, OpType::MaxPool}) {
      auto out = run_reference({op, make_options(o), {&x}});
      REQUIRE(out.size() == 1);
      check_close(out[0], pool_ref<float>(x, o, op == OpType::MaxPool), 1e-5, 1e-6, pool_what(op, x, o));
    }
    ++ran;
  }
  CHECK(ran == 200);
}

TEST_CASE("pool: wide rows with strides (the vectorized interior path) vs enumeration") {
  std::mt19937 rng(9);
  HostTensor x = random_f32(rng, Shape{1, 3, 11, 70});
  for (int32_t s : {1, 2, 3})
    for (bool include : {false, true}) {
      fb::PoolOptionsT o = pool_options({3, 3}, {s, s}, {1, 1, 1, 1}, s == 3, include);
      for (OpType op : {OpType::AveragePool, OpType::MaxPool}) {
        auto out = run_reference({op, make_options(o), {&x}});
        REQUIRE(out.size() == 1);
        check_close(out[0], pool_ref<float>(x, o, op == OpType::MaxPool), 1e-5, 1e-6, pool_what(op, x, o));
      }
    }
}

TEST_CASE("pool: ONNX's hand cases and int8 / NaN MaxPool") {
  // test_averagepool_2d_ceil: 4x4 of 1..16, kernel 3, stride 2, ceil_mode
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = float(i + 1);
  HostTensor x = HostTensor::f32({1, 1, 4, 4}, v);
  auto avg = run_reference({OpType::AveragePool, make_options(pool_options({3, 3}, {2, 2}, {0, 0, 0, 0}, true)), {&x}});
  REQUIRE(avg.size() == 1);
  check_equal(avg[0], HostTensor::f32({1, 1, 2, 2}, {6, 7.5f, 12, 13.5f}), "AveragePool 4x4 k3 s2 ceil_mode");

  // pads 1 on a 3x3 kernel, stride 1: corners average 4 values, or 9 slots with count_include_pad
  HostTensor ones = HostTensor::f32({1, 1, 2, 2}, {1, 1, 1, 1});
  auto excl = run_reference({OpType::AveragePool, make_options(pool_options({3, 3}, {1, 1}, {1, 1, 1, 1})), {&ones}});
  auto incl = run_reference(
      {OpType::AveragePool, make_options(pool_options({3, 3}, {1, 1}, {1, 1, 1, 1}, false, true)), {&ones}});
  REQUIRE(excl.size() == 1);
  REQUIRE(incl.size() == 1);
  check_equal(excl[0], HostTensor::f32({1, 1, 2, 2}, {1, 1, 1, 1}), "AveragePool excluding pads");
  check_close(incl[0], HostTensor::f32({1, 1, 2, 2}, {4.f / 9, 4.f / 9, 4.f / 9, 4.f / 9}), 1e-6, 0,
              "AveragePool count_include_pad");

  HostTensor q = HostTensor::of<int8_t>(DType::Int8, {1, 1, 5}, {-128, -5, 7, 100, -100});
  auto mx = run_reference({OpType::MaxPool, make_options(pool_options({2}, {2}, {1, 0}, true)), {&q}});
  REQUIRE(mx.size() == 1);
  check_equal(mx[0], HostTensor::of<int8_t>(DType::Int8, {1, 1, 3}, {-128, 7, 100}), "int8 MaxPool k2 s2 pad 1 ceil");

  const float nan = std::numeric_limits<float>::quiet_NaN();
  HostTensor xn = HostTensor::f32({1, 1, 4}, {1, nan, 3, 4});
  auto mn = run_reference({OpType::MaxPool, make_options(pool_options({2}, {2}, {0, 0})), {&xn}});
  REQUIRE(mn.size() == 1);
  CHECK(std::isnan(mn[0].f(0)));
  CHECK(mn[0].f(1) == 4);
}

TEST_CASE("global_pool: average and max over every spatial dim vs double loops") {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 20; ++trial) {
    const int rank = 3 + trial % 3;
    Shape s;
    s.rank = rank;
    s[0] = random_dim(rng, 1, 2);
    s[1] = random_dim(rng, 1, 5);
    for (int d = 2; d < rank; ++d) s[d] = random_dim(rng, 1, trial % 4 == 0 ? 60 : 9);
    HostTensor x = random_f32(rng, s, -4.f, 4.f);
    Shape ys = s;
    for (int d = 2; d < rank; ++d) ys[d] = 1;
    const int64_t planes = s[0] * s[1], plane = s.numel() / planes;
    HostTensor avg(DType::Float32, ys), mx(DType::Float32, ys);
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0, best = -INFINITY;
      for (int64_t i = 0; i < plane; ++i) {
        sum += x.f(p * plane + i);
        best = std::max(best, double(x.f(p * plane + i)));
      }
      avg.data<float>()[p] = float(sum / double(plane));
      mx.data<float>()[p] = float(best);
    }
    auto ga = run_reference({OpType::GlobalAveragePool, {}, {&x}});
    auto gm = run_reference({OpType::GlobalMaxPool, {}, {&x}});
    REQUIRE(ga.size() == 1);
    REQUIRE(gm.size() == 1);
    check_close(ga[0], avg, 1e-5, 1e-6, "GlobalAveragePool X " + s.str());
    check_equal(gm[0], mx, "GlobalMaxPool X " + s.str());
  }
}

TEST_CASE("pool: inference rejects padding as large as the kernel and windows that do not fit") {
  HostTensor x(DType::Float32, Shape{1, 1, 5, 5});
  std::vector<HostTensor> res;
  Status st =
      try_run_reference({OpType::MaxPool, make_options(pool_options({2, 2}, {1, 1}, {2, 0, 0, 0})), {&x}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("padding on spatial axis 0 must be smaller than the kernel") != std::string::npos,
                st.message());
  st = try_run_reference({OpType::AveragePool, make_options(pool_options({6, 1}, {1, 1}, {0, 0, 0, 0})), {&x}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("does not fit the padded input on spatial axis 0") != std::string::npos,
                st.message());
}

}  // namespace tern::test
