// The integer arithmetic of the int8 scheme (runtime/core/quant.h) at its edges: multiplier
// decomposition (near 1, tiny, large, invalid), rounding (half away from zero for requantization,
// half to even for QuantizeLinear), saturation to [-128, 127] and zero points at their limits.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "core/quant.h"

using namespace tern::quant;

namespace {
double real_of(Multiplier m) { return m.mult * std::ldexp(1.0, -(31 + m.shift)); }
}  // namespace

TEST_CASE("quantize_multiplier decomposes into a Q31 mantissa and a shift") {
  Multiplier m;
  REQUIRE(quantize_multiplier(1.0, &m));
  CHECK(m.mult == (1 << 30));
  CHECK(m.shift == -1);
  CHECK(real_of(m) == 1.0);
  REQUIRE(quantize_multiplier(0.5, &m));
  CHECK(m.mult == (1 << 30));
  CHECK(m.shift == 0);
  // Just below 1: the mantissa rounds up to 2^31, which must be renormalized to fit int32.
  REQUIRE(quantize_multiplier(1.0 - 1e-12, &m));
  CHECK(m.mult == (1 << 30));
  CHECK(m.shift == -1);
  // Every normal multiplier keeps 31 bits: relative error below 2^-30.
  for (double r : {1e-6, 3.7e-4, 0.0123, 0.3333333, 0.99999, 1.5, 7.25, 1000.0}) {
    REQUIRE(quantize_multiplier(r, &m));
    CHECK(m.mult >= (1 << 30));
    CHECK(m.shift >= -30);
    CHECK(m.shift <= 31);
    CHECK(std::fabs(real_of(m) - r) <= r * std::ldexp(1.0, -30));
  }
  // Zero, tiny and invalid multipliers.
  REQUIRE(quantize_multiplier(0.0, &m));
  CHECK(m.mult == 0);
  REQUIRE(quantize_multiplier(std::ldexp(1.0, -40), &m));  // below 2^-32: denormalized at shift 31
  CHECK(m.shift == 31);
  CHECK(m.mult == (1 << 22));
  REQUIRE(quantize_multiplier(1e-30, &m));
  CHECK(m.mult == 0);
  CHECK_FALSE(quantize_multiplier(-0.5, &m));
  CHECK_FALSE(quantize_multiplier(NAN, &m));
  CHECK_FALSE(quantize_multiplier(INFINITY, &m));
  CHECK_FALSE(quantize_multiplier(std::ldexp(1.0, 31), &m));
}

TEST_CASE("requantization rounds half away from zero") {
  Multiplier half;
  REQUIRE(quantize_multiplier(0.5, &half));
  CHECK(multiply_by_multiplier(3, half) == 2);
  CHECK(multiply_by_multiplier(-3, half) == -2);
  CHECK(multiply_by_multiplier(5, half) == 3);
  CHECK(multiply_by_multiplier(-5, half) == -3);
  CHECK(multiply_by_multiplier(4, half) == 2);
  CHECK(multiply_by_multiplier(1, half) == 1);
  CHECK(multiply_by_multiplier(-1, half) == -1);
  Multiplier tiny;
  REQUIRE(quantize_multiplier(std::ldexp(1.0, -31), &tiny));  // the largest shift: 62 bits in total
  CHECK(multiply_by_multiplier(1 << 30, tiny) == 1);           // exactly 0.5 -> 1
  CHECK(multiply_by_multiplier(-(1 << 30), tiny) == -1);
  CHECK(multiply_by_multiplier((1 << 30) - 1, tiny) == 0);
  CHECK(multiply_by_multiplier(INT32_MAX, tiny) == 1);
  CHECK(multiply_by_multiplier(INT32_MIN, tiny) == -1);
  // Extreme accumulators with a multiplier near 1 stay exact in int64.
  Multiplier one;
  REQUIRE(quantize_multiplier(1.0, &one));
  CHECK(multiply_by_multiplier(INT32_MAX, one) == INT32_MAX);
  CHECK(multiply_by_multiplier(INT32_MIN, one) == INT32_MIN);
  // Against double arithmetic: exact except on ties (there the rule above decides).
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> lr(-20, 5);
  std::uniform_int_distribution<int32_t> acc(-(1 << 24), 1 << 24);
  for (int i = 0; i < 20000; ++i) {
    double r = std::exp2(lr(rng));
    Multiplier m;
    REQUIRE(quantize_multiplier(r, &m));
    int32_t a = acc(rng);
    double want = static_cast<double>(a) * real_of(m);
    int64_t got = multiply_by_multiplier(a, m);
    CHECK(std::fabs(static_cast<double>(got) - want) <= 0.5 + 1e-9);
    if (std::fabs(std::fabs(want - std::trunc(want)) - 0.5) > 1e-6) CHECK(got == std::llround(want));
  }
}

TEST_CASE("requantize saturates to int8 and honours zero points at their limits") {
  Multiplier one;
  REQUIRE(quantize_multiplier(1.0, &one));
  CHECK(requantize(127, one, 0) == 127);
  CHECK(requantize(128, one, 0) == 127);
  CHECK(requantize(-128, one, 0) == -128);
  CHECK(requantize(-129, one, 0) == -128);
  CHECK(requantize(INT32_MAX, one, 0) == 127);
  CHECK(requantize(INT32_MIN, one, 0) == -128);
  CHECK(requantize(0, one, 127) == 127);
  CHECK(requantize(1, one, 127) == 127);
  CHECK(requantize(-255, one, 127) == -128);
  CHECK(requantize(-5, one, -128) == -128);
  CHECK(requantize(255, one, -128) == 127);
  CHECK(requantize(254, one, -128) == 126);
  // Fused activation bounds narrow the range.
  CHECK(requantize(-50, one, 10, 10, 127) == 10);
  CHECK(requantize(200, one, 10, -128, 100) == 100);
  Multiplier big;
  REQUIRE(quantize_multiplier(1000.0, &big));
  CHECK(multiply_by_multiplier(1, big) == 1000);
  CHECK(requantize(1, big, 0) == 127);
  CHECK(requantize(-1, big, 0) == -128);
}

TEST_CASE("QuantizeLinear rounds half to even and saturates") {
  CHECK(quantize_value(2.5f, 1.0f, 0) == 2);
  CHECK(quantize_value(3.5f, 1.0f, 0) == 4);
  CHECK(quantize_value(-2.5f, 1.0f, 0) == -2);
  CHECK(quantize_value(-3.5f, 1.0f, 0) == -4);
  CHECK(quantize_value(1e9f, 1.0f, 0) == 127);
  CHECK(quantize_value(-1e9f, 1.0f, 0) == -128);
  CHECK(quantize_value(INFINITY, 0.1f, 5) == 127);
  CHECK(quantize_value(-INFINITY, 0.1f, 5) == -128);
  CHECK(quantize_value(NAN, 0.1f, 5) == 5);
  CHECK(quantize_value(0.0f, 0.1f, -128) == -128);
  CHECK(quantize_value(1.0f, 0.1f, 120) == 127);
  CHECK(dequantize_value(-128, 0.5f, -128) == 0.0f);
  CHECK(dequantize_value(127, 0.5f, -128) == 127.5f);
}

TEST_CASE("activation parameters keep real zero exact and the zero point in range") {
  float s;
  int32_t z;
  choose_activation_params(0.0f, 0.0f, &s, &z);
  CHECK(s == 1.0f);
  CHECK(z == 0);
  choose_activation_params(1.0f, 2.0f, &s, &z);  // excludes 0: widened to [0, 2], not clamped
  CHECK(z == -128);
  CHECK(s == doctest::Approx(2.0 / 255));
  CHECK(quantize_value(2.0f, s, z) == 127);
  choose_activation_params(-2.0f, -1.0f, &s, &z);  // all negative: zero point at the top
  CHECK(z == 127);
  CHECK(quantize_value(-2.0f, s, z) == -128);
  choose_activation_params(0.0f, 1.0f, &s, &z);  // LIF spikes: both levels exact
  CHECK(dequantize_value(quantize_value(1.0f, s, z), s, z) == 1.0f);
  CHECK(dequantize_value(quantize_value(0.0f, s, z), s, z) == 0.0f);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-100, 100);
  for (int i = 0; i < 2000; ++i) {
    float a = u(rng), b = u(rng);
    choose_activation_params(std::min(a, b), std::max(a, b), &s, &z);
    CHECK(z >= -128);
    CHECK(z <= 127);
    CHECK(s > 0);
    CHECK(dequantize_value(quantize_value(0.0f, s, z), s, z) == 0.0f);
  }
  CHECK(symmetric_scale(0.0f) == 1.0f);
  CHECK(symmetric_scale(127.0f) == 1.0f);
  int32_t lo, hi;
  activation_bounds(0.0f, INFINITY, 0.1f, -20, &lo, &hi);
  CHECK(lo == -20);
  CHECK(hi == 127);
  activation_bounds(0.0f, 6.0f, 0.1f, -128, &lo, &hi);
  CHECK(lo == -128);
  CHECK(hi == -68);
}
