// Cast, Where, ConstantOfShape, Shape and Range reference kernels: every dtype pair of Cast
// against the rules written out in double/int64 arithmetic, float16 rounding against a direct
// decoding of binary16, broadcasting Where on random shapes, and the ONNX examples for Range.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "data_test_util.h"
#include "support/harness.h"

namespace tern::test {

namespace {

// binary16 value from its bits, straight from the format's definition.
double half_value(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0x1f) v = mant ? NAN : INFINITY;
  else if (exp == 0) v = std::ldexp(mant, -24);
  else v = std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}

bool is_integer_dtype(DType t) {
  return t == DType::Int8 || t == DType::UInt8 || t == DType::Int16 || t == DType::Int32 || t == DType::Int64;
}

int bits_of(DType t) { return static_cast<int>(dtype_size(t)) * 8; }
bool is_signed(DType t) { return t != DType::UInt8; }

// The value of element i as a long double (exact for every dtype here, int64 included).
long double value_at(const HostTensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::Float32: return t.data<float>()[i];
    case DType::Float16: return half_value(t.data<uint16_t>()[i]);
    case DType::Int8: return t.data<int8_t>()[i];
    case DType::UInt8: return t.data<uint8_t>()[i];
    case DType::Int16: return t.data<int16_t>()[i];
    case DType::Int32: return t.data<int32_t>()[i];
    case DType::Int64: return static_cast<long double>(t.data<int64_t>()[i]);
    case DType::Bool: return t.data<uint8_t>()[i];
  }
  return 0;
}

// Writes integer v into element i of an integer tensor, wrapping modulo 2^bits.
void put_int(HostTensor& t, int64_t i, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  std::memcpy(t.bytes.data() + static_cast<size_t>(i) * dtype_size(t.dtype), &u, dtype_size(t.dtype));  // little-endian
}

// The expected Cast of element i of x into dtype `to`.
void expected_cast(const HostTensor& x, int64_t i, HostTensor& y) {
  long double v = value_at(x, i);
  const DType to = y.dtype;
  if (to == DType::Bool) {
    y.data<uint8_t>()[i] = v != 0;  // NaN != 0 is true
  } else if (to == DType::Float32) {
    y.data<float>()[i] = x.dtype == DType::Int64 ? static_cast<float>(x.data<int64_t>()[i]) : static_cast<float>(v);
  } else if (to == DType::Float16) {
    // nearest binary16 to the float32 value, ties to even mantissa, via a search over all halves
    float f = x.dtype == DType::Int64 ? static_cast<float>(x.data<int64_t>()[i]) : static_cast<float>(v);
    uint16_t best = 0;
    if (std::isnan(f)) best = 0x7e00;
    else if (std::fabs(f) >= 65520.0f) best = f > 0 ? 0x7c00 : 0xfc00;
    else {
      double bd = INFINITY;
      for (uint32_t h = 0; h < 0x7c00; ++h) {
        double d = std::fabs(half_value(static_cast<uint16_t>(h)) - std::fabs(static_cast<double>(f)));
        if (d < bd || (d == bd && (h & 1) == 0)) bd = d, best = static_cast<uint16_t>(h);
      }
      if (std::signbit(f)) best |= 0x8000;
    }
    y.data<uint16_t>()[i] = best;
  } else if (!is_integer_dtype(x.dtype) && x.dtype != DType::Bool) {  // float -> int: truncate, saturate
    // Saturate by comparing with the exact powers of two 2^(bits-1) / 2^bits and clamping in
    // integers: where long double has only 53 bits (armhf), 2^63 - 1 is not representable.
    const int bits = bits_of(to);
    const long double lim = is_signed(to) ? std::ldexp(1.0L, bits - 1) : std::ldexp(1.0L, bits);
    const int64_t hi_int = bits == 64 ? INT64_MAX : static_cast<int64_t>((uint64_t{1} << (is_signed(to) ? bits - 1 : bits)) - 1);
    const int64_t lo_int = is_signed(to) ? (bits == 64 ? INT64_MIN : -(int64_t{1} << (bits - 1))) : 0;
    long double t = std::isnan(v) ? 0 : std::trunc(v);
    int64_t r = t >= lim ? hi_int : (t < (is_signed(to) ? -lim : 0.0L) ? lo_int : static_cast<int64_t>(t));
    put_int(y, i, r);
  } else {  // int/bool -> int: modulo 2^bits
    put_int(y, i, x.dtype == DType::Int64 ? x.data<int64_t>()[i] : static_cast<int64_t>(v));
  }
}

HostTensor cast_source(DType t) {
  // values chosen to hit truncation, both signs, range edges of every integer type and specials
  static const double kVals[] = {0, 1, -1, 2.7, -2.7, 0.49, -0.99, 127, 128, -128, -129, 255, 256, 300.5,
                                 -300.5, 32767, 32768, -32769, 65535, 70000, 2147483647.0, -2147483648.0,
                                 3e9, -3e9, 1e19, -1e19, 65504, 65519, 65520, 1e-6, 6e-8, 3e-8,
                                 // exact binary16 ties: to the even neighbour, normal and subnormal
                                 2049, 2051, -2049, 1 + 0x1p-11, 1 + 0x3p-11, 0x3p-25, 0x1p-25};
  const size_t n = std::size(kVals) + 4;
  HostTensor h(t, Shape{static_cast<int64_t>(n)});
  for (size_t i = 0; i < n; ++i) {
    double v = i < std::size(kVals) ? kVals[i] : 0;
    size_t k = i - std::size(kVals);
    switch (t) {
      case DType::Float32: h.data<float>()[i] = i < std::size(kVals) ? static_cast<float>(v)
                                                : (k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY : -0.0f);
        break;
      case DType::Float16: {  // encode the float32 values exactly where binary16 can
        static const uint16_t kSpecial[] = {0x7e00, 0x7c00, 0xfc00, 0x8001};
        uint16_t bits = 0;
        if (i >= std::size(kVals)) bits = kSpecial[k];
        else {
          for (uint32_t b = 0; b < 0x10000; ++b)
            if (half_value(static_cast<uint16_t>(b)) == std::trunc(v * 4) / 4) bits = static_cast<uint16_t>(b);
        }
        h.data<uint16_t>()[i] = bits;
        break;
      }
      case DType::Bool: h.data<uint8_t>()[i] = (i % 3) != 0; break;
      case DType::Int64:
        h.data<int64_t>()[i] = i < std::size(kVals) ? static_cast<int64_t>(std::trunc(v))
                               : (k == 0 ? std::numeric_limits<int64_t>::min()
                                         : k == 1 ? std::numeric_limits<int64_t>::max() : k == 2 ? (int64_t{1} << 53) + 1 : -5);
        break;
      default: put_int(h, static_cast<int64_t>(i), static_cast<int64_t>(std::trunc(std::fmax(-9e18, std::fmin(9e18, v))))); break;
    }
  }
  return h;
}

}  // namespace

TEST_CASE("Cast: every pair of dtypes against the written-out rules") {
  for (DType from : kAllDTypes) {
    HostTensor x = cast_source(from);
    for (DType to : kAllDTypes) {
      fb::CastOptionsT o;
      o.to = to;
      auto out = run_reference({OpType::Cast, make_options(o), {&x}});
      REQUIRE(out.size() == 1);
      HostTensor want(to, x.shape);
      for (int64_t i = 0; i < x.numel(); ++i) expected_cast(x, i, want);
      check_bytes(out[0], want, std::string("Cast ") + dtype_name(from) + " -> " + dtype_name(to) + " X " + x.shape.str());
    }
  }
}

TEST_CASE("Cast: float32 -> float16 -> float32 on random values and every binary16 pattern") {
  std::mt19937 rng(101);
  HostTensor x(DType::Float32, {4000});
  std::uniform_real_distribution<float> mag(-30, 15.9f);  // below 65504: overflow is checked with the pairs
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = ((rng() & 1) ? -1.f : 1.f) * std::exp2(mag(rng));
  fb::CastOptionsT to_half;
  to_half.to = DType::Float16;
  auto h = run_reference({OpType::Cast, make_options(to_half), {&x}});
  REQUIRE(h.size() == 1);
  // the chosen half must be the nearest one (its neighbours are no closer)
  int64_t bad = -1;
  for (int64_t i = 0; i < x.numel() && bad < 0; ++i) {
    double f = x.f(i);
    uint16_t b = h[0].data<uint16_t>()[i];
    double d = std::fabs(half_value(b) - f);
    for (int delta : {-1, 1}) {
      uint16_t nb = static_cast<uint16_t>((b & 0x7fff) + delta) | (b & 0x8000);
      if ((b & 0x7fff) == 0 && delta < 0) continue;
      if ((nb & 0x7fff) < 0x7c00 && std::fabs(half_value(nb) - f) < d) bad = i;
    }
  }
  CHECK_MESSAGE(bad < 0, "Cast float32 -> float16 [4000]: element ", bad, " = ", bad >= 0 ? x.f(bad) : 0.0f,
                " is not rounded to the nearest half");
  // every half pattern decodes to its value
  HostTensor all(DType::Float16, {65536});
  for (uint32_t b = 0; b < 65536; ++b) all.data<uint16_t>()[b] = static_cast<uint16_t>(b);
  fb::CastOptionsT to_float;
  to_float.to = DType::Float32;
  auto f = run_reference({OpType::Cast, make_options(to_float), {&all}});
  REQUIRE(f.size() == 1);
  HostTensor want(DType::Float32, {65536});
  for (uint32_t b = 0; b < 65536; ++b) want.data<float>()[b] = static_cast<float>(half_value(static_cast<uint16_t>(b)));
  check_close(f[0], want, 0, 0, "Cast float16 -> float32, all 65536 patterns");
}

TEST_CASE("Where: random three-way broadcasts and dtypes") {
  std::mt19937 rng(111);
  for (int trial = 0; trial < 120; ++trial) {
    int rank = static_cast<int>(rng() % 5);
    Shape full = random_shape(rng, rank, trial % 10 == 0 ? 0 : 1, 6);
    auto operand = [&]() {
      Shape s;
      int drop = rank ? static_cast<int>(rng() % static_cast<unsigned>(rank + 1)) : 0;
      s.rank = rank - drop;
      for (int d = 0; d < s.rank; ++d) s[d] = (rng() % 3 == 0) ? 1 : full[d + drop];
      return s;
    };
    Shape sc = operand(), sa = operand(), sb = operand();
    DType dt = random_dtype(rng);
    HostTensor c = random_tensor(rng, DType::Bool, sc), a = random_tensor(rng, dt, sa), b = random_tensor(rng, dt, sb);
    auto out = run_reference({OpType::Where, {}, {&c, &a, &b}});
    REQUIRE(out.size() == 1);
    Shape os;
    REQUIRE(ops::broadcast_shapes(sc, sa, &os));
    REQUIRE(ops::broadcast_shapes(Shape(os), sb, &os));
    HostTensor want(dt, os);
    int64_t oi[kMaxRank];
    auto flat = [&](const Shape& s) {
      int64_t f = 0;
      for (int d = 0; d < s.rank; ++d) f = f * s[d] + (s[d] == 1 ? 0 : oi[os.rank - s.rank + d]);
      return f;
    };
    for (int64_t f = 0; f < want.numel(); ++f) {
      unravel(f, os, oi);
      if (c.data<uint8_t>()[flat(sc)]) copy_element(a, flat(sa), want, f);
      else copy_element(b, flat(sb), want, f);
    }
    check_bytes(out[0], want,
                std::string("Where ") + dtype_name(dt) + " cond " + sc.str() + " X " + sa.str() + " Y " + sb.str());
  }
}

TEST_CASE("ConstantOfShape: the value in every dtype, empty and scalar shapes") {
  struct C {
    DType dt;
    double value;
    std::vector<uint8_t> bytes;  // one element, little-endian
  } cases[] = {
      {DType::Float32, 1.5, {0x00, 0x00, 0xc0, 0x3f}},
      {DType::Float16, -2.0, {0x00, 0xc0}},
      {DType::Int8, -7, {0xf9}},
      {DType::UInt8, 200, {0xc8}},
      {DType::Int16, -300, {0xd4, 0xfe}},
      {DType::Int32, 123456, {0x40, 0xe2, 0x01, 0x00}},
      {DType::Int64, -2, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
      {DType::Bool, 3, {0x01}},
      {DType::Float32, 0, {0, 0, 0, 0}},
  };
  for (const C& c : cases) {
    for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{}, std::vector<int64_t>{4, 0}}) {
      fb::FillOptionsT o;
      o.shape = shape;
      o.dtype = c.dt;
      o.value = c.value;
      auto out = run_reference({OpType::ConstantOfShape, make_options(o), {}});
      REQUIRE(out.size() == 1);
      HostTensor want(c.dt, Shape::from(shape));
      for (int64_t i = 0; i < want.numel(); ++i)
        std::memcpy(want.bytes.data() + static_cast<size_t>(i) * c.bytes.size(), c.bytes.data(), c.bytes.size());
      check_bytes(out[0], want, std::string("ConstantOfShape ") + dtype_name(c.dt) + " value " + std::to_string(c.value) +
                                    " shape " + list_str(shape));
    }
  }
}

TEST_CASE("Shape: start/end windows") {
  HostTensor x(DType::Int8, {2, 0, 5, 7});
  struct C {
    int start, end;
    std::vector<int64_t> want;
  } cases[] = {{0, 4, {2, 0, 5, 7}}, {1, 3, {0, 5}}, {3, 4, {7}}, {2, 2, {}}};
  for (const C& c : cases) {
    fb::ShapeOptionsT o;
    o.start = c.start;
    o.end = c.end;
    auto out = run_reference({OpType::Shape, make_options(o), {&x}});
    REQUIRE(out.size() == 1);
    check_bytes(out[0], HostTensor::i64({static_cast<int64_t>(c.want.size())}, c.want),
                "Shape of [2x0x5x7] start " + std::to_string(c.start) + " end " + std::to_string(c.end));
  }
  HostTensor s = HostTensor::f32({}, {1});
  auto out = run_reference({OpType::Shape, make_options(fb::ShapeOptionsT{}), {&s}});
  REQUIRE(out.size() == 1);
  check_bytes(out[0], HostTensor(DType::Int64, {0}), "Shape of a scalar");
}

namespace {

template <typename T>
std::vector<HostTensor> run_range(DType dt, T start, T limit, T delta) {
  HostTensor a = HostTensor::of<T>(dt, {}, {start}), b = HostTensor::of<T>(dt, {}, {limit}),
             c = HostTensor::of<T>(dt, {}, {delta});
  NodeSpec n{OpType::Range, {}, {&a, &b, &c}};
  n.inputs_constant = true;
  return run_reference(n);
}

}  // namespace

TEST_CASE("Range: ONNX examples and random float/int ranges") {
  auto r = run_range<int32_t>(DType::Int32, 3, 9, 3);
  REQUIRE(r.size() == 1);
  check_equal(r[0], HostTensor::of<int32_t>(DType::Int32, {2}, {3, 6}), "Range int32 (3, 9, 3)");
  auto q = run_range<float>(DType::Float32, 10, 4, -2);
  REQUIRE(q.size() == 1);
  check_equal(q[0], HostTensor::f32({3}, {10, 8, 6}), "Range float32 (10, 4, -2)");
  auto e = run_range<int64_t>(DType::Int64, 5, 5, 1);
  REQUIRE(e.size() == 1);
  CHECK(e[0].shape == Shape{0});
  auto w = run_range<int64_t>(DType::Int64, 0, 10, -1);
  REQUIRE(w.size() == 1);
  CHECK(w[0].shape == Shape{0});

  std::mt19937 rng(121);
  for (int trial = 0; trial < 60; ++trial) {
    std::uniform_real_distribution<float> d(-50, 50);
    float start = d(rng), limit = d(rng), delta = d(rng) / 7;
    if (delta == 0) delta = 1;
    auto out = run_range<float>(DType::Float32, start, limit, delta);
    REQUIRE(out.size() == 1);
    double n = std::max(std::ceil((static_cast<double>(limit) - start) / delta), 0.0);
    HostTensor want(DType::Float32, {static_cast<int64_t>(n)});
    for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] = static_cast<float>(start + i * static_cast<double>(delta));
    check_close(out[0], want, 1e-6, 1e-5,
                "Range float32 (" + std::to_string(start) + ", " + std::to_string(limit) + ", " + std::to_string(delta) + ")");

    std::uniform_int_distribution<int64_t> di(-100, 100);
    int64_t s = di(rng), l = di(rng), dl = di(rng) / 9;
    if (dl == 0) dl = -3;
    auto oi = run_range<int64_t>(DType::Int64, s, l, dl);
    REQUIRE(oi.size() == 1);
    int64_t ni = std::max<int64_t>(0, (l - s + dl + (dl > 0 ? -1 : 1)) / dl);  // ceil division
    HostTensor wi(DType::Int64, {ni});
    for (int64_t i = 0; i < ni; ++i) wi.data<int64_t>()[i] = s + i * dl;
    check_bytes(oi[0], wi, "Range int64 (" + std::to_string(s) + ", " + std::to_string(l) + ", " + std::to_string(dl) + ")");
  }
}

}  // namespace tern::test
