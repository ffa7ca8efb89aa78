// The micro-kernels, written once over a small vector abstraction `V` (vec_<isa>.h: W lanes of
// float, load/store, arithmetic, fma, compare/select, 2^n) and instantiated per ISA by
// kernels_<isa>.cpp, each compiled with its own -m flags. Include only from those files.
//
// Transcendentals are polynomials, accurate to a few ulp (relative <= 3e-6 measured, most
// ~1e-7) over the float range, NaN passed through, exp's overflow/underflow saturating to inf / 0
// (tests/cpu/test_simd_variants.cpp checks every variant against float64):
//   exp  Cephes expf: n = round(x log2 e), r = x - n ln2 (two-constant Cody-Waite), degree-6
//        polynomial, scaled by 2^n as two factors 2^(n/2) so denormal results come out right
//        (AVX-512: one vscalefps, the same single rounding). Reciprocals 1 / (1 + positive) in
//        sigmoid and GELU: vrcp14ps + a Newton step on AVX-512 (vrecip1), a division elsewhere.
//   erf  GELU needs 1 + erf(x / sqrt 2): for x >= 0 that is 2 - erfc(z), for x < 0 it is erfc(z)
//        itself, computed with W. J. Cody's / Numerical Recipes' erfc = t exp(-z^2 + P(t)),
//        t = 1 / (1 + z/2) (fractional error < 1.2e-7), so GELU keeps its relative accuracy on
//        both tails instead of cancelling in 1 + erf.
//   tanh Cephes tanhf: odd polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) above.
//   sigmoid through exp(-|x|) (no overflow); SiLU = x sigmoid(x); tanh-GELU = x sigmoid(2u).
//   log  Cephes logf (for softplus = max(x, 0) + log1p(exp(-|x|))).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/simd/isa.h"

namespace tern::cpu::simd::impl {

template <class V>
inline typename V::T vexp(typename V::T x) {
  using T = typename V::T;
  const T xc = V::min(V::max(x, V::set1(-104.0f)), V::set1(88.72283f));
  const T n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
  T r = V::fma(n, V::set1(-0.693359375f), xc);
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  T p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  T y;
  if constexpr (requires(T v) { V::scalef(v, v); }) {
    y = V::scalef(p, n);  // the exact product rounded once, as the two factors below
  } else {
    const T n1 = V::floor(V::mul(n, V::set1(0.5f)));
    const T n2 = V::sub(n, n1);
    y = V::mul(V::mul(p, V::pow2(n1)), V::pow2(n2));
  }
  y = V::select(V::lt(V::set1(88.72283f), x), V::set1(std::numeric_limits<float>::infinity()), y);
  y = V::select(V::lt(x, V::set1(-103.9f)), V::zero(), y);  // below the smallest denormal
  return V::select(V::isnan(x), x, y);
}

// Natural log of positive normal x (Cephes logf: x = m 2^e, m in [sqrt(1/2), sqrt 2), degree-8
// polynomial in m - 1).
template <class V>
inline typename V::T vlog(typename V::T x) {
  using T = typename V::T;
  T e;
  T m = V::frexp(x, e);
  const auto small = V::lt(m, V::set1(0.707106781186547524f));
  e = V::select(small, V::sub(e, V::set1(1.0f)), e);
  m = V::sub(V::select(small, V::add(m, m), m), V::set1(1.0f));
  const T z = V::mul(m, m);
  T p = V::set1(7.0376836292e-2f);
  p = V::fma(p, m, V::set1(-1.1514610310e-1f));
  p = V::fma(p, m, V::set1(1.1676998740e-1f));
  p = V::fma(p, m, V::set1(-1.2420140846e-1f));
  p = V::fma(p, m, V::set1(1.4249322787e-1f));
  p = V::fma(p, m, V::set1(-1.6668057665e-1f));
  p = V::fma(p, m, V::set1(2.0000714765e-1f));
  p = V::fma(p, m, V::set1(-2.4999993993e-1f));
  p = V::fma(p, m, V::set1(3.3333331174e-1f));
  T y = V::mul(V::mul(p, m), z);
  y = V::fma(e, V::set1(-2.12194440e-4f), y);
  y = V::fma(z, V::set1(-0.5f), y);
  return V::fma(e, V::set1(0.693359375f), V::add(m, y));
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)); log1p(t) for t in (0, 1] as log(u) * t / (u - 1)
// with u = 1 + t (exact where 1 + t rounds), t itself where u rounds to 1.
template <class V>
inline typename V::T vsoftplus(typename V::T x) {
  using T = typename V::T;
  const T t = vexp<V>(V::sub(V::zero(), V::abs(x)));
  const T u = V::add(V::set1(1.0f), t);
  const T d = V::sub(u, V::set1(1.0f));
  const T l = V::select(V::lt(d, V::set1(1e-30f)), t, V::mul(vlog<V>(u), V::div(t, V::select(V::lt(d, V::set1(1e-30f)), V::set1(1.0f), d))));
  return V::select(V::isnan(x), x, V::add(V::max(x, V::zero()), l));
}

template <class V>
inline typename V::T vtanh(typename V::T x) {
  using T = typename V::T;
  const T ax = V::abs(x);
  const T z = V::mul(x, x);
  T p = V::set1(-5.70498872745e-3f);
  p = V::fma(p, z, V::set1(2.06390887954e-2f));
  p = V::fma(p, z, V::set1(-5.37397155531e-2f));
  p = V::fma(p, z, V::set1(1.33314422036e-1f));
  p = V::fma(p, z, V::set1(-3.33332819422e-1f));
  const T small = V::fma(V::mul(p, z), x, x);
  const T e = vexp<V>(V::add(ax, ax));
  T big = V::sub(V::set1(1.0f), V::div(V::set1(2.0f), V::add(e, V::set1(1.0f))));
  big = V::select(V::lt(x, V::zero()), V::sub(V::zero(), big), big);
  return V::select(V::lt(ax, V::set1(0.625f)), small, big);
}

// 1 / (1 + exp(-x)) through e = exp(-|x|), which never overflows: 1 / (1 + e) for x >= 0,
// e / (1 + e) below, so the far negative tail keeps its relative accuracy (no exp(-x) = inf).
// 1 / a for a >= 1 (finite or +inf): the vector type's fast reciprocal where it has one.
template <class V>
inline typename V::T vrecip1(typename V::T a) {
  if constexpr (requires(typename V::T v) { V::recip(v); }) return V::recip(a);
  else return V::div(V::set1(1.0f), a);
}

template <class V>
inline typename V::T vsigmoid(typename V::T x) {
  using T = typename V::T;
  const T e = vexp<V>(V::sub(V::zero(), V::abs(x)));
  const T r = vrecip1<V>(V::add(V::set1(1.0f), e));
  return V::select(V::lt(x, V::zero()), V::mul(e, r), r);
}

template <class V>
inline typename V::T vgelu(typename V::T x) {
  using T = typename V::T;
  const T z = V::mul(V::abs(x), V::set1(0.70710678118654752f));
  const T t = vrecip1<V>(V::fma(z, V::set1(0.5f), V::set1(1.0f)));
  T p = V::set1(0.17087277f);
  p = V::fma(p, t, V::set1(-0.82215223f));
  p = V::fma(p, t, V::set1(1.48851587f));
  p = V::fma(p, t, V::set1(-1.13520398f));
  p = V::fma(p, t, V::set1(0.27886807f));
  p = V::fma(p, t, V::set1(-0.18628806f));
  p = V::fma(p, t, V::set1(0.09678418f));
  p = V::fma(p, t, V::set1(0.37409196f));
  p = V::fma(p, t, V::set1(1.00002368f));
  p = V::fma(p, t, V::set1(-1.26551223f));
  const T erfc = V::mul(t, vexp<V>(V::sub(p, V::mul(z, z))));
  const T q = V::select(V::ge(x, V::zero()), V::sub(V::set1(2.0f), erfc), erfc);
  return V::mul(V::mul(V::set1(0.5f), x), q);
}

template <class V>
inline typename V::T vact(Act kind, typename V::T x, float p0, float p1) {
  using T = typename V::T;
  switch (kind) {
    case Act::None: return x;
    case Act::Relu: return V::select(V::lt(x, V::zero()), V::zero(), x);  // NaN passes, as the reference
    case Act::Clip: {
      const T lo = V::set1(p0), hi = V::set1(p1);
      const T y = V::select(V::lt(x, lo), lo, x);
      return V::select(V::lt(hi, y), hi, y);
    }
    case Act::Sigmoid: return vsigmoid<V>(x);
    case Act::SiLU: return V::mul(x, vsigmoid<V>(x));
    case Act::GELU: return vgelu<V>(x);
    case Act::GELUTanh: {
      // 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation in 1 + tanh(u) for negative x.
      const T x3 = V::mul(V::mul(x, x), x);
      const T u2 = V::mul(V::set1(2.0f * 0.79788456080286536f), V::fma(V::set1(0.044715f), x3, x));
      return V::mul(x, vsigmoid<V>(u2));
    }
    case Act::HardSwish: {
      T g = V::fma(x, V::set1(1.0f / 6.0f), V::set1(0.5f));
      g = V::min(V::max(g, V::zero()), V::set1(1.0f));
      return V::mul(x, g);
    }
    case Act::HardSigmoid: {
      T g = V::fma(x, V::set1(p0), V::set1(p1));
      return V::min(V::max(g, V::zero()), V::set1(1.0f));
    }
    case Act::Tanh: return vtanh<V>(x);
  }
  return x;
}

// ---- GEMM micro-kernel: MR rows x NV vectors, A unpacked (broadcast per row), B packed ----------

// Stores rows < m and columns < n of an accumulator tile: C (+)= acc, then the epilogue (bias and
// activation: bias_act's operations, in registers).
template <class V, int MR, int NV>
inline void store_tile(typename V::T (&acc)[MR][NV], int64_t m, int64_t n, float* c, int64_t ldc, bool accumulate,
                       const Epilogue* ep) {
  using T = typename V::T;
  constexpr int W = V::W;
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
    for (int v = 0; v < NV; ++v) {
      const int64_t cols = n - v * W;
      if (cols <= 0) break;
      float* p = c + r * ldc + v * W;
      const int cn = cols >= W ? W : static_cast<int>(cols);
      T x = acc[r][v];
      if (accumulate) x = V::add(x, cn == W ? V::load(p) : V::load_n(p, cn, 0.0f));
      if (ep) {
        if (ep->bias) x = V::add(x, cn == W ? V::load(ep->bias + v * W) : V::load_n(ep->bias + v * W, cn, 0.0f));
        x = vact<V>(ep->act, x, ep->p0, ep->p1);
      }
      if (cn == W) V::store(p, x);
      else V::store_n(p, x, cn);
    }
  }
}

template <class V, int MR, int NV>
void gemm_ukernel(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
                  int64_t ldc, bool accumulate, const Epilogue* ep) {
  using T = typename V::T;
  constexpr int W = V::W, NR = NV * W;
  T acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  // Rows past m read row m-1 again (valid memory); their results are dropped.
  const float* ar[MR];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r) ar[r] = a + (r < m ? r : m - 1) * lda;
  for (int64_t kk = 0; kk < k; ++kk) {
    T b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = V::load(bp + kk * NR + v * W);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const T av = V::set1(ar[r][kk]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, b[v], acc[r][v]);
    }
  }
  if (m == MR && n == NR) {
    if (!ep) {
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          float* p = c + r * ldc + v * W;
          V::store(p, accumulate ? V::add(acc[r][v], V::load(p)) : acc[r][v]);
        }
      return;
    }
    T bias[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bias[v] = ep->bias ? V::load(ep->bias + v * W) : V::zero();
    // One dispatch per tile: each activation gets its own loop (a constant kind folds vact's
    // switch away).
    auto apply = [&](auto act) {
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          float* p = c + r * ldc + v * W;
          T x = accumulate ? V::add(acc[r][v], V::load(p)) : acc[r][v];
          if (ep->bias) x = V::add(x, bias[v]);
          V::store(p, act(x));
        }
    };
    const float p0 = ep->p0, p1 = ep->p1;
    switch (ep->act) {
#define TERN_GEMM_EPILOGUE_CASE(K) \
  case Act::K: apply([p0, p1](T x) { return vact<V>(Act::K, x, p0, p1); }); break;
      TERN_GEMM_EPILOGUE_CASE(None)
      TERN_GEMM_EPILOGUE_CASE(Relu)
      TERN_GEMM_EPILOGUE_CASE(Clip)
      TERN_GEMM_EPILOGUE_CASE(Sigmoid)
      TERN_GEMM_EPILOGUE_CASE(SiLU)
      TERN_GEMM_EPILOGUE_CASE(GELU)
      TERN_GEMM_EPILOGUE_CASE(GELUTanh)
      TERN_GEMM_EPILOGUE_CASE(HardSwish)
      TERN_GEMM_EPILOGUE_CASE(HardSigmoid)
      TERN_GEMM_EPILOGUE_CASE(Tanh)
#undef TERN_GEMM_EPILOGUE_CASE
    }
    return;
  }
  store_tile<V, MR, NV>(acc, m, n, c, ldc, accumulate, ep);
}

// Few-row variant (matrix-vector shaped products: LMU's recurrence over a batch of one-channel
// memories, row tails): MR rows only, and k unrolled by two into separate accumulators so a
// single row still has 2 x NV independent FMA chains. Same packed B as gemm_ukernel.
template <class V, int MR, int NV>
void gemm_rows_ukernel(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
                       int64_t ldc, bool accumulate, const Epilogue* ep) {
  using T = typename V::T;
  constexpr int W = V::W, NR = NV * W;
  T acc[MR][NV], acc2[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = acc2[r][v] = V::zero();
  const float* ar[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) ar[r] = a + (r < m ? r : m - 1) * lda;
  int64_t kk = 0;
  for (; kk + 2 <= k; kk += 2) {
    T b0[NV], b1[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      b0[v] = V::load(bp + kk * NR + v * W);
      b1[v] = V::load(bp + (kk + 1) * NR + v * W);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T a0 = V::set1(ar[r][kk]), a1 = V::set1(ar[r][kk + 1]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        acc[r][v] = V::fma(a0, b0[v], acc[r][v]);
        acc2[r][v] = V::fma(a1, b1[v], acc2[r][v]);
      }
    }
  }
  if (kk < k) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T a0 = V::set1(ar[r][kk]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(a0, V::load(bp + kk * NR + v * W), acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = V::add(acc[r][v], acc2[r][v]);
  store_tile<V, MR, NV>(acc, m, n, c, ldc, accumulate, ep);
}

// ---- rows ---------------------------------------------------------------------------------------

template <class V>
float max_row(const float* x, int64_t n) {
  using T = typename V::T;
  constexpr int W = V::W;
  T m0 = V::set1(x[0]), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    m0 = V::max(m0, V::load(x + i));
    m1 = V::max(m1, V::load(x + i + W));
  }
  for (; i + W <= n; i += W) m0 = V::max(m0, V::load(x + i));
  if (i < n) m1 = V::max(m1, V::load_n(x + i, static_cast<int>(n - i), x[0]));
  return V::hmax(V::max(m0, m1));
}

template <class V>
float exp_sum(const float* x, float* y, int64_t n, float scale, float shift) {
  using T = typename V::T;
  constexpr int W = V::W;
  const T s = V::set1(scale), sh = V::set1(-shift);
  T acc0 = V::zero(), acc1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const T e0 = vexp<V>(V::fma(V::load(x + i), s, sh));
    const T e1 = vexp<V>(V::fma(V::load(x + i + W), s, sh));
    V::store(y + i, e0);
    V::store(y + i + W, e1);
    acc0 = V::add(acc0, e0);
    acc1 = V::add(acc1, e1);
  }
  for (; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const T e = vexp<V>(V::fma(V::load_n(x + i, cn, 0.0f), s, sh));
    V::store_n(y + i, e, cn);
    acc0 = V::add(acc0, V::load_n(y + i, cn, 0.0f));  // lanes past n must not join the sum
  }
  return V::hsum(V::add(acc0, acc1));
}

template <class V>
void scale_row(float* y, int64_t n, float s) {
  constexpr int W = V::W;
  const auto sv = V::set1(s);
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, V::mul(V::load(y + i), sv));
  if (i < n) V::store_n(y + i, V::mul(V::load_n(y + i, static_cast<int>(n - i), 0.0f), sv), static_cast<int>(n - i));
}

template <class V>
void max_acc(float* acc, const float* x, int64_t n) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(acc + i, V::max(V::load(acc + i), V::load(x + i)));
  for (; i < n; ++i) acc[i] = acc[i] > x[i] ? acc[i] : x[i];
}

template <class V>
void exp_sub_acc(const float* x, const float* mx, float* y, float* sum, int64_t n) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const auto e = vexp<V>(V::sub(V::load_n(x + i, cn, 0.0f), V::load_n(mx + i, cn, 0.0f)));
    V::store_n(y + i, e, cn);
    V::store_n(sum + i, V::add(V::load_n(sum + i, cn, 0.0f), e), cn);
  }
}

template <class V>
void mul_rows(float* y, const float* s, int64_t n) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, V::mul(V::load(y + i), V::load(s + i)));
  for (; i < n; ++i) y[i] *= s[i];
}

template <class V>
void activation(Act kind, const float* x, float* y, int64_t n, float p0, float p1) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, vact<V>(kind, V::load(x + i), p0, p1));
  if (i < n) {
    const int cn = static_cast<int>(n - i);
    V::store_n(y + i, vact<V>(kind, V::load_n(x + i, cn, 0.0f), p0, p1), cn);
  }
}

template <class V>
void bias_act(const float* bias, float* y, int64_t n, Act kind, float p0, float p1) {
  constexpr int W = V::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    auto v = V::load(y + i);
    if (bias) v = V::add(v, V::load(bias + i));
    V::store(y + i, vact<V>(kind, v, p0, p1));
  }
  if (i < n) {
    const int cn = static_cast<int>(n - i);
    auto v = V::load_n(y + i, cn, 0.0f);
    if (bias) v = V::add(v, V::load_n(bias + i, cn, 0.0f));
    V::store_n(y + i, vact<V>(kind, v, p0, p1), cn);
  }
}

// Sum of x (4 vector accumulators; the tail enters as zero-filled lanes).
template <class V>
float sum_row(const float* x, int64_t n) {
  using T = typename V::T;
  constexpr int W = V::W;
  T a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 = V::add(a0, V::load(x + i));
    a1 = V::add(a1, V::load(x + i + W));
    a2 = V::add(a2, V::load(x + i + 2 * W));
    a3 = V::add(a3, V::load(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) a0 = V::add(a0, V::load(x + i));
  if (i < n) a1 = V::add(a1, V::load_n(x + i, static_cast<int>(n - i), 0.0f));
  return V::hsum(V::add(V::add(a0, a1), V::add(a2, a3)));
}

template <class V>
void layer_norm_row(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps,
                    float* mean_out, float* inv_out) {
  using T = typename V::T;
  constexpr int W = V::W;
  // Corrected two-pass (as the reference): hi = approximate mean, then the deviations' sum fixes
  // the mean (lo) and the variance, so a large mean with a small spread keeps its digits.
  const float hi = static_cast<float>(static_cast<double>(sum_row<V>(x, n)) / static_cast<double>(n));
  const T hv = V::set1(hi);
  T s1 = V::zero(), s2 = V::zero(), s1b = V::zero(), s2b = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const T d0 = V::sub(V::load(x + i), hv), d1 = V::sub(V::load(x + i + W), hv);
    s1 = V::add(s1, d0);
    s2 = V::fma(d0, d0, s2);
    s1b = V::add(s1b, d1);
    s2b = V::fma(d1, d1, s2b);
  }
  for (; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const T d = V::sub(V::load_n(x + i, cn, hi), hv);  // fill = hi: zero deviation
    s1 = V::add(s1, d);
    s2 = V::fma(d, d, s2);
  }
  const double sd = V::hsum(V::add(s1, s1b)), sd2 = V::hsum(V::add(s2, s2b));
  const double dn = static_cast<double>(n);
  const float lo = static_cast<float>(sd / dn);
  double var = (sd2 - sd * sd / dn) / dn;
  if (var < 0) var = 0;
  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  if (mean_out) *mean_out = hi + lo;
  if (inv_out) *inv_out = inv;
  if (!y) return;
  const T lv = V::set1(lo), iv = V::set1(inv);
  for (i = 0; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const T xv = cn == W ? V::load(x + i) : V::load_n(x + i, cn, 0.0f);
    const T sc = cn == W ? V::load(scale + i) : V::load_n(scale + i, cn, 0.0f);
    T r = V::mul(V::mul(V::sub(V::sub(xv, hv), lv), iv), sc);
    if (bias) r = V::add(r, cn == W ? V::load(bias + i) : V::load_n(bias + i, cn, 0.0f));
    if (cn == W) V::store(y + i, r);
    else V::store_n(y + i, r, cn);
  }
}

template <class V>
void rms_norm_row(const float* x, float* y, int64_t n, const float* scale, float eps) {
  using T = typename V::T;
  constexpr int W = V::W;
  T s0 = V::zero(), s1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const T a = V::load(x + i), b = V::load(x + i + W);
    s0 = V::fma(a, a, s0);
    s1 = V::fma(b, b, s1);
  }
  for (; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const T a = V::load_n(x + i, cn, 0.0f);
    s0 = V::fma(a, a, s0);
  }
  const double ms = static_cast<double>(V::hsum(V::add(s0, s1))) / static_cast<double>(n);
  const T iv = V::set1(static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps))));
  for (i = 0; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    T r = V::mul(V::load_n(x + i, cn, 0.0f), iv);
    if (scale) r = V::mul(r, V::load_n(scale + i, cn, 0.0f));
    V::store_n(y + i, r, cn);
  }
}

template <class V>
void lif_step(const float* x, float* v, float* s, int64_t n, float tau, float thr, float v_reset, bool soft) {
  using T = typename V::T;
  constexpr int W = V::W;
  const T tv = V::set1(tau), th = V::set1(thr), vr = V::set1(v_reset), one = V::set1(1.0f);
  for (int64_t i = 0; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    const T vv = V::load_n(v + i, cn, 0.0f);
    // h = v + (x - (v - v_reset)) / tau, the spec's operations in its order (no fma).
    const T h = V::add(vv, V::div(V::sub(V::load_n(x + i, cn, 0.0f), V::sub(vv, vr)), tv));
    const auto fire = V::ge(h, th);
    const T spike = V::select(fire, one, V::zero());
    const T nv = soft ? V::sub(h, V::mul(spike, th)) : V::select(fire, vr, h);
    V::store_n(v + i, nv, cn);
    if (s) V::store_n(s + i, spike, cn);
  }
}

template <class V>
void sscan_step(float* h, const float* a, const float* b, const float* c, const float* dt, const float* u, float* y,
                int64_t d, int64_t ns) {
  using T = typename V::T;
  constexpr int W = V::W;
  for (int64_t ch = 0; ch < d; ++ch) {
    const T dv = V::set1(dt[ch]), uv = V::set1(u[ch]);
    float* hc = h + ch * ns;
    const float* ac = a + ch * ns;
    T acc = V::zero();
    for (int64_t s = 0; s < ns; s += W) {
      const int cn = ns - s < W ? static_cast<int>(ns - s) : W;
      if (cn == W) {
        const T hv = V::fma(vexp<V>(V::mul(dv, V::load(ac + s))), V::load(hc + s), V::mul(V::mul(dv, V::load(b + s)), uv));
        V::store(hc + s, hv);
        acc = V::fma(hv, V::load(c + s), acc);
      } else {
        const T hv = V::fma(vexp<V>(V::mul(dv, V::load_n(ac + s, cn, 0.0f))), V::load_n(hc + s, cn, 0.0f),
                            V::mul(V::mul(dv, V::load_n(b + s, cn, 0.0f)), uv));
        V::store_n(hc + s, hv, cn);
        acc = V::fma(hv, V::load_n(c + s, cn, 0.0f), acc);
      }
    }
    if (y) y[ch] = V::hsum(acc);
  }
}

template <class V>
void dt_row(const float* delta, const float* bias, float* dt, int64_t n, bool softplus) {
  constexpr int W = V::W;
  for (int64_t i = 0; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    auto v = V::load_n(delta + i, cn, 0.0f);
    if (bias) v = V::add(v, V::load_n(bias + i, cn, 0.0f));
    V::store_n(dt + i, softplus ? vsoftplus<V>(v) : v, cn);
  }
}

template <class V>
void gate_row(float* y, const float* u, const float* d, const float* z, int64_t n) {
  constexpr int W = V::W;
  for (int64_t i = 0; i < n; i += W) {
    const int cn = n - i < W ? static_cast<int>(n - i) : W;
    auto v = V::load_n(y + i, cn, 0.0f);
    if (d) v = V::add(v, V::mul(V::load_n(u + i, cn, 0.0f), V::load_n(d + i, cn, 0.0f)));
    if (z) {
      const auto zv = V::load_n(z + i, cn, 0.0f);
      v = V::mul(v, V::mul(zv, vsigmoid<V>(zv)));
    }
    V::store_n(y + i, v, cn);
  }
}

template <class V, int MR, int NV>
Kernels make_kernels(Isa isa, const char* gemm_name) {
  Kernels k{};
  k.isa = isa;
  k.gemm_name = gemm_name;
  k.gemm_mr = MR;
  k.gemm_nr = NV * V::W;
  k.gemm = &gemm_ukernel<V, MR, NV>;
  k.gemm_rows[0] = nullptr;
  k.gemm_rows[1] = &gemm_rows_ukernel<V, 1, NV>;
  k.gemm_rows[2] = &gemm_rows_ukernel<V, 2, NV>;
  k.gemm_rows[3] = &gemm_rows_ukernel<V, 4, NV>;
  k.gemm_rows[4] = &gemm_rows_ukernel<V, 4, NV>;
  k.exp_sum = &exp_sum<V>;
  k.max = &max_row<V>;
  k.scale = &scale_row<V>;
  k.max_acc = &max_acc<V>;
  k.exp_sub_acc = &exp_sub_acc<V>;
  k.mul = &mul_rows<V>;
  k.activation = &activation<V>;
  k.bias_act = &bias_act<V>;
  k.layer_norm_row = &layer_norm_row<V>;
  k.rms_norm_row = &rms_norm_row<V>;
  k.lif_step = &lif_step<V>;
  k.sscan_step = &sscan_step<V>;
  k.dt_row = &dt_row<V>;
  k.gate_row = &gate_row<V>;
  return k;
}

}  // namespace tern::cpu::simd::impl
