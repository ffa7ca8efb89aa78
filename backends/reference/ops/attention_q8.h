// int8 Attention numerics (docs/quantization-scheme.md, "int8 Attention"): the one definition
// that the reference kernel (attention_q8.cpp) and the CPU kernel (backends/cpu/ops/q8_attention.cpp
// and its per-ISA softmax rows in cpu/simd/q8_*.cpp) follow bit for bit.
//
//   S_ij = sum_t (q_it - z_q)(k_jt - z_k)                       int32, exact
//   S'_ij = S_ij + B_ij                                         int32, exact (B: the bias, or 0)
//   d_ij = max_j S'_ij - S'_ij >= 0                             int32, exact
//   u_ij = rint(min((float)d_ij * c256, 4096))                  c256 = (float)(s_q s_k scale 256)
//   E_ij = rint(((H[u >> 8] * M[(u >> 4) & 15]) * L[u & 15]) * 2^22)    float products
//          H[a] = (float)exp(-a) (H[16] = 0), M[b] = (float)exp(-b / 16), L[c] = (float)exp(-c / 256)
//   P_ij = min(32767, rint((float)E_ij * (32767 / (float)sum_j E)))   int16, real p = P / 32767
//   O_it = sum_j P_ij (v_jt - z_v)                              int32, exact
//   Y    = requantize(O, make_multiplier(1 / 32767, s_v, s_y), z_y)
//
// Every float step is one IEEE operation (an int -> float conversion, a multiply, a division, a
// minimum, a round-to-nearest-even) with no addition that a compiler could contract into an FMA,
// so the result is the same on every ISA, SIMD lane-wise or scalar. The exponential is exp(-x) on a
// 1/256 grid of x < 16, as the product of three 16-entry float tables (register permutes in SIMD,
// no gather) built by constant evaluation (no libm).
//
// The optional bias (input 3) is int32 in units of the score grid: B = round(b / (s_q s_k scale))
// of the float bias b, quantized once by the compiler (compiler/quant/rewrite.cpp), broadcast to
// [..., Lq, Lk] as the float bias is. Only S changes; every later step is the same. Its 0.5-step
// rounding moves each logit by at most s_q s_k scale / 2 (a factor e^(s_q s_k scale) on a ratio of
// two probabilities, at worst). With a bias the kernels take D <= kMaxBiasedDepth (|S| <=
// 255^2 D < 2^29) and |B| <= kMaxBias = 2^29, so |S + B| < 2^30 and d < 2^31 stay exact, the
// CPU kernel's VNNI scores (S shifted by a per-row constant, |.| <= 255 * 128 D < 2^28) included.
//
// P has 15 bits rather than 8: the products run on int16 operands anyway (cpu/simd/q8.h
// att_gemm), so the finer probabilities cost nothing, and a uint8 P's rounding (0.5 / 255 per
// key, summed over Lk keys) would dominate the error. |O| <= (sum_j P_ij) 255 < 2^24: exact.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tern::ref::attq8 {

constexpr int kExpBits = 22;         // E = exp(-x) in Q22: the largest is 2^22
constexpr int kStepsPerUnit = 256;   // the grid of x = d * s_q s_k scale
constexpr int kTableLast = 4096;     // x >= 16: E = 0 (2^22 exp(-16) < 0.5)
constexpr float kExpScale = 4194304.0f;  // 2^kExpBits
constexpr int32_t kProbMax = 32767;  // P = 32767 softmax (int16): s_p = 1 / 32767
// Largest head depth for which every int32 above is exact (|S| < 2^30, d < 2^31), and a key count
// far inside |O| <= 255 (32767 + Lk / 2) < 2^31: the kernels refuse larger ones.
constexpr int64_t kMaxDepth = 16384;
constexpr int64_t kMaxKeys = 32768;
// With a bias input: half the depth, and the bias within +-2^29 (the compiler leaves an Attention
// whose bias does not fit in fp32; the reference kernel refuses such a bias).
constexpr int64_t kMaxBiasedDepth = 8192;
constexpr int32_t kMaxBias = int32_t{1} << 29;
static_assert(255 * 255 * kMaxBiasedDepth < int64_t{1} << 29 && 255 * 128 * kMaxBiasedDepth < int64_t{1} << 28);

// (The functions below have internal linkage, as cpu/simd/q8_impl.h's: the per-ISA translation
// units include this header with their own -m flags, and one shared inline copy could otherwise
// be taken from a TU built for an ISA the CPU lacks.)
namespace {

struct ExpTables {
  float hi[17];  // exp(-a), a = u >> 8 in 0..16 (16 only for u = 4096: 0)
  float mid[16];  // exp(-b / 16)
  float lo[16];   // exp(-c / 256)
};

// exp(x) for 0 <= x <= 16 by its Taylor series (positive terms: no cancellation; 80 terms reach
// below 2^-60 relative at x = 16), evaluated at compile time, so no platform's libm enters.
constexpr double exp_series(double x) {
  double sum = 1.0, term = 1.0;
  for (int n = 1; n < 80; ++n) {
    term = term * x / n;
    sum = sum + term;
  }
  return sum;
}
constexpr ExpTables make_exp_tables() {
  ExpTables t{};
  for (int i = 0; i < 16; ++i) {
    t.hi[i] = static_cast<float>(1.0 / exp_series(i));
    t.mid[i] = static_cast<float>(1.0 / exp_series(i / 16.0));
    t.lo[i] = static_cast<float>(1.0 / exp_series(i / 256.0));
  }
  t.hi[16] = 0.0f;
  return t;
}
inline constexpr ExpTables kExp = make_exp_tables();
static_assert(kExp.hi[0] == 1.0f && kExp.mid[0] == 1.0f && kExp.lo[0] == 1.0f);

// E = round(2^22 exp(-u / 256)) for a grid index u in [0, 4096], as the SIMD rows compute it.
inline int32_t exp_q22(int32_t u) {
  float e = kExp.hi[u >> 8] * kExp.mid[(u >> 4) & 15];
  e = e * kExp.lo[u & 15];
  return static_cast<int32_t>(std::nearbyint(e * kExpScale));
}
static_assert((1 << kExpBits) == static_cast<int32_t>(kExpScale));

// c256 = s_q s_k scale 256 as float (the product in double, one rounding), capped so that
// d * c256 stays finite or +inf but never NaN. False for a scale that is not positive and finite.
inline bool logit_step(float s_q, float s_k, float scale, float* c256) {
  const double c = static_cast<double>(s_q) * s_k * scale * kStepsPerUnit;
  if (!(c > 0.0) || !std::isfinite(c)) return false;
  *c256 = static_cast<float>(std::min(c, 1e30));
  return true;
}

// The table index of a score d below the row maximum (d >= 0).
inline int32_t exp_index(int32_t d, float c256) {
  const float t = std::min(static_cast<float>(d) * c256, static_cast<float>(kTableLast));
  return static_cast<int32_t>(std::nearbyint(t));
}

// 32767 / sum as float (sum >= 2^22: the row maximum contributes exp_q22(0) = 2^22).
inline float prob_factor(int64_t sum) { return static_cast<float>(kProbMax) / static_cast<float>(sum); }

inline int32_t prob(int32_t e, float r) {
  return std::min(kProbMax, static_cast<int32_t>(std::nearbyint(static_cast<float>(e) * r)));
}

// One row: scores s[0..n) -> probabilities p[0..n) (0..32767), e[0..n) as working space (may be s).
// The scalar definition; the SIMD rows compute the same values lane-wise.
template <typename P>
inline void softmax_row(const int32_t* s, int64_t n, float c256, int32_t* e, P* p) {
  int32_t mx = s[0];
  for (int64_t j = 1; j < n; ++j) mx = std::max(mx, s[j]);
  int64_t sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    e[j] = exp_q22(exp_index(mx - s[j], c256));
    sum += e[j];
  }
  const float r = prob_factor(sum);
  for (int64_t j = 0; j < n; ++j) p[j] = static_cast<P>(prob(e[j], r));
}

}  // namespace

}  // namespace tern::ref::attq8
