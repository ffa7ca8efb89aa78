// Every micro-kernel variant this build and CPU have (backends/cpu/simd: scalar, AVX2, AVX-512,
// NEON), called directly and checked against float64 formulas: GEMM tiles with every tail and a
// negative row stride, the blocked GEMM driver, the polynomial exp / erf / tanh across the float
// range (relative error ~1e-6), the row kernels, and the LIF step's exact spikes. The variant the
// backend selected (and TERN_CPU_ISA's effect) is printed, so logs show which kernels ran.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cpu/simd/gemm.h"
#include "cpu/simd/isa.h"

using namespace tern::cpu::simd;

namespace {

std::vector<const Kernels*> variants() {
  std::vector<const Kernels*> v;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (const Kernels* k = kernels_for(isa)) v.push_back(k);
  return v;
}

std::vector<float> rand_vec(std::mt19937& rng, size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double rel_err(double got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1;
  if (std::isinf(want)) return got == want ? 0 : 1;
  return std::fabs(got - want) / std::max(std::fabs(want), 1e-30);
}

}  // namespace

TEST_CASE("simd: the variants present, and the one selected") {
  std::string names;
  for (const Kernels* k : variants()) names += std::string(" ") + isa_name(k->isa) + " (" + k->gemm_name + ")";
  std::printf("cpu micro-kernel variants available:%s; selected: %s\n", names.c_str(), active_isa_name());
  CHECK(kernels_for(Isa::Scalar) != nullptr);
  const Kernels& sel = kernels();
  CHECK(kernels_for(sel.isa) == &sel);
#if defined(__x86_64__)
  CHECK(kernels_for(Isa::Neon) == nullptr);
#elif defined(__ARM_NEON)
  CHECK(kernels_for(Isa::Neon) != nullptr);  // AArch64, and armv7 built for NEON-VFPv4
#endif
  if (const char* env = std::getenv("TERN_CPU_ISA")) {
    bool have = false;
    for (const Kernels* k : variants()) have = have || std::string(isa_name(k->isa)) == env;
    if (have) CHECK(std::string(active_isa_name()) == env);
  }
}

TEST_CASE("simd: gemm micro-kernel tiles with every row/column tail, store and accumulate, lda < 0") {
  std::mt19937 rng(7);
  for (const Kernels* kt : variants()) {
    const std::string gemm_name = kt->gemm_name;
    CAPTURE(gemm_name);
    for (int64_t m = 1; m <= kt->gemm_mr; ++m)
      for (int64_t n : {int64_t{1}, int64_t{kt->gemm_nr - 1}, int64_t{kt->gemm_nr}, int64_t{3}})
        for (int64_t k : {1, 7, 33}) {
          if (n < 1 || n > kt->gemm_nr) continue;
          const bool neg = (m + k) % 2 == 1;
          std::vector<float> abuf = rand_vec(rng, static_cast<size_t>((m + 1) * k + 8));
          const int64_t lda = neg ? -k : k;
          const float* a = neg ? abuf.data() + (m - 1) * k : abuf.data();
          std::vector<float> b = rand_vec(rng, static_cast<size_t>(k * n));
          std::vector<float> bp(packed_b_floats(*kt, k, n));
          pack_b(*kt, k, n, b.data(), n, 1, bp.data());
          const int64_t ldc = n + 3;
          std::vector<float> c = rand_vec(rng, static_cast<size_t>(m * ldc)), c0 = c;
          for (bool acc : {false, true}) {
            c = c0;
            if (m <= 4 && (m + n + k) % 2 == 0) kt->gemm_rows[m](m, n, k, a, lda, bp.data(), c.data(), ldc, acc, nullptr);
            else kt->gemm(m, n, k, a, lda, bp.data(), c.data(), ldc, acc, nullptr);
            for (int64_t i = 0; i < m; ++i) {
              for (int64_t j = 0; j < n; ++j) {
                double want = acc ? c0[static_cast<size_t>(i * ldc + j)] : 0.0;
                for (int64_t p = 0; p < k; ++p) want += double(a[i * lda + p]) * b[static_cast<size_t>(p * n + j)];
                CHECK_MESSAGE(std::fabs(c[static_cast<size_t>(i * ldc + j)] - want) <= 1e-5 * (1 + std::fabs(want)),
                              "m ", m, " n ", n, " k ", k, " acc ", acc, " at ", i, ",", j);
              }
              for (int64_t j = n; j < ldc; ++j)  // columns past n untouched
                CHECK(c[static_cast<size_t>(i * ldc + j)] == c0[static_cast<size_t>(i * ldc + j)]);
            }
          }
        }
  }
}

TEST_CASE("simd: blocked gemm (k past one block, n past one panel block) and the lower-triangular form") {
  std::mt19937 rng(8);
  for (const Kernels* kt : variants()) {
    const std::string gemm_name = kt->gemm_name;
    CAPTURE(gemm_name);
    struct Mnk {
      int64_t m, n, k;
    };
    for (const Mnk& s : {Mnk{37, 531, 300}, Mnk{5, 17, 513}, Mnk{64, 64, 64}, Mnk{1, 70, 9}, Mnk{2, 531, 300},
                         Mnk{3, 40, 513}, Mnk{4, 33, 2}}) {
      const int64_t m = s.m, n = s.n, k = s.k;
      std::vector<float> a = rand_vec(rng, static_cast<size_t>(m * k)), b = rand_vec(rng, static_cast<size_t>(k * n));
      std::vector<float> bp(packed_b_floats(*kt, k, n));
      // B given transposed (column stride k) exercises the strided packing path.
      std::vector<float> bt(static_cast<size_t>(k * n));
      for (int64_t p = 0; p < k; ++p)
        for (int64_t j = 0; j < n; ++j) bt[static_cast<size_t>(j * k + p)] = b[static_cast<size_t>(p * n + j)];
      pack_b(*kt, k, n, bt.data(), 1, k, bp.data());
      std::vector<float> c(static_cast<size_t>(m * n));
      gemm(*kt, m, n, k, a.data(), k, bp.data(), c.data(), n, false);
      for (int64_t i = 0; i < m; i += 7)
        for (int64_t j = 0; j < n; j += 5) {
          double want = 0;
          for (int64_t p = 0; p < k; ++p) want += double(a[static_cast<size_t>(i * k + p)]) * b[static_cast<size_t>(p * n + j)];
          CHECK(std::fabs(c[static_cast<size_t>(i * n + j)] - want) <= 1e-4 * (1 + std::fabs(want)));
        }
    }
    // gemm_lower with a lower-triangular A: same as the full product.
    const int64_t m = 45, n = 19, k = 45;
    std::vector<float> a = rand_vec(rng, static_cast<size_t>(m * k)), b = rand_vec(rng, static_cast<size_t>(k * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = i + 1; p < k; ++p) a[static_cast<size_t>(i * k + p)] = 0.0f;
    std::vector<float> bp(packed_b_floats(*kt, k, n)), c1(static_cast<size_t>(m * n)), c2 = c1;
    pack_b(*kt, k, n, b.data(), n, 1, bp.data());
    gemm(*kt, m, n, k, a.data(), k, bp.data(), c1.data(), n, false);
    gemm_lower(*kt, m, n, k, 0, a.data(), k, bp.data(), c2.data(), n);
    for (size_t i = 0; i < c1.size(); ++i) CHECK(std::fabs(c1[i] - c2[i]) <= 1e-5 * (1 + std::fabs(c1[i])));
  }
}

TEST_CASE("simd: the GEMM epilogue gives bias_act's bytes after the product (every tile tail, both micro-kernels)") {
  // The micro-kernels apply bias + activation to the tile in registers: the same float operations
  // as storing C and running bias_act over it, so the results must be identical, not just close.
  std::mt19937 rng(9);
  for (const Kernels* kt : variants()) {
    const std::string gemm_name = kt->gemm_name;
    CAPTURE(gemm_name);
    struct Mnk {
      int64_t m, n, k;
    };
    for (const Mnk& s : {Mnk{37, 531, 300}, Mnk{kt->gemm_mr, kt->gemm_nr, 7}, Mnk{3, 40, 9}, Mnk{2, 5, 300}, Mnk{13, 33, 64}}) {
      const int64_t m = s.m, n = s.n, k = s.k;
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(k);
      std::vector<float> a = rand_vec(rng, static_cast<size_t>(m * k)), b = rand_vec(rng, static_cast<size_t>(k * n));
      std::vector<float> bias = rand_vec(rng, static_cast<size_t>(n));
      std::vector<float> bp(packed_b_floats(*kt, k, n));
      pack_b(*kt, k, n, b.data(), n, 1, bp.data());
      for (Act act : {Act::None, Act::Relu, Act::Clip, Act::GELU, Act::SiLU, Act::HardSwish})
        for (bool with_bias : {true, false}) {
          if (!with_bias && act == Act::None) continue;
          CAPTURE(static_cast<int>(act));
          CAPTURE(with_bias);
          std::vector<float> want(static_cast<size_t>(m * n)), got(want.size(), 7.0f);
          gemm(*kt, m, n, k, a.data(), k, bp.data(), want.data(), n, false);
          for (int64_t i = 0; i < m; ++i) kt->bias_act(with_bias ? bias.data() : nullptr, want.data() + i * n, n, act, -0.25f, 0.5f);
          const Epilogue ep{with_bias ? bias.data() : nullptr, act, -0.25f, 0.5f};
          gemm(*kt, m, n, k, a.data(), k, bp.data(), got.data(), n, false, &ep);
          CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
        }
    }
  }
}

TEST_CASE("simd: exp, sigmoid, SiLU, GELU (erf and tanh forms), tanh against float64 to ~1e-6 relative") {
  std::vector<float> x;
  for (float v = -110.0f; v <= 95.0f; v += 0.0137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 1e-3f, -1e-3f, 0.6249f, 0.6251f, -0.6251f, 88.7f, 88.8f, -87.5f, -103.0f,
                  -104.5f, INFINITY, -INFINITY, NAN})
    x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(x.size());
  for (const Kernels* kt : variants()) {
    const std::string isa = isa_name(kt->isa);
    CAPTURE(isa);
#if defined(__arm__)
    const bool ftz = kt->isa == Isa::Neon;
#else
    const bool ftz = false;
#endif
    // exp via exp_sum with scale 1, shift 0 (x clipped where the sum would overflow)
    std::vector<float> xe;
    for (float v : x)
      if (!(v > 80.0f)) xe.push_back(v);
    std::vector<float> ye(xe.size());
    kt->exp_sum(xe.data(), ye.data(), static_cast<int64_t>(xe.size()), 1.0f, 0.0f);
    double worst = 0;
    for (size_t i = 0; i < xe.size(); ++i) {
      const double want = std::exp(double(xe[i]));
      if (want < 1.2e-38) {  // denormal range: absolute (armv7 NEON flushes denormals to zero)
        CHECK(std::fabs(ye[i] - want) <= (ftz ? 1.2e-38 : 2e-45));
        continue;
      }
      worst = std::max(worst, rel_err(ye[i], want));
    }
    CHECK(worst < 2e-6);
    struct Case {
      Act act;
      double (*f)(double);
      double tol;
      // Absolute slack: float's denormal range (1e-37), HardSwish's cancellation at x = -3, and
      // the GELUs' far negative tails (|y| < 1e-11), where the exp argument (-z^2, or the
      // tanh form's cubic) itself carries float's rounding (~1e-5 relative).
      double atol;
    };
    const Case cases[] = {
        {Act::Sigmoid, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, 3e-6, 1e-37},
        {Act::SiLU, [](double v) { return v / (1.0 + std::exp(-v)); }, 3e-6, 1e-37},
        {Act::GELU, [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }, 3e-6, 1e-11},
        {Act::Tanh, [](double v) { return std::tanh(v); }, 3e-6, 0},
        {Act::GELUTanh,
         // 0.5 v (1 + tanh(u)) written as v / (1 + exp(-2u)), exact in double on the negative tail too
         [](double v) { return v / (1.0 + std::exp(-2.0 * 0.79788456080286536 * (v + 0.044715 * v * v * v))); }, 3e-6, 1e-11},
        {Act::HardSwish, [](double v) { return v * std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0); }, 1e-6, 1e-7},
    };
    for (const Case& c : cases) {
      CAPTURE(static_cast<int>(c.act));
      kt->activation(c.act, x.data(), y.data(), n, 0.0f, 0.0f);
      double worst_rel = 0, worst_x = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double want = c.f(double(x[static_cast<size_t>(i)]));
        if (std::isnan(x[static_cast<size_t>(i)])) {
          CHECK(std::isnan(y[static_cast<size_t>(i)]));
          continue;
        }
        if (!std::isfinite(x[static_cast<size_t>(i)])) continue;
        // relative where the value is a normal float, absolute near underflow
        const double diff = std::fabs(y[static_cast<size_t>(i)] - want);
        // (armv7 NEON flushes denormal intermediates: x * 1e-39 comes out 0, |x| <= 110 here)
        const double e = diff <= (ftz ? std::max(c.atol, 2e-36) : c.atol) ? 0.0 : diff / std::max(std::fabs(want), 1e-38);
        if (e > worst_rel) worst_rel = e, worst_x = x[static_cast<size_t>(i)];
      }
      CHECK_MESSAGE(worst_rel < c.tol, "worst relative error ", worst_rel, " at x = ", worst_x);
    }
  }
}

TEST_CASE("simd: softmax rows, layer norm / RMS norm rows with tails of every vector width") {
  std::mt19937 rng(9);
  for (const Kernels* kt : variants()) {
    const std::string isa = isa_name(kt->isa);
    CAPTURE(isa);
    for (int64_t n : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257}) {
      std::vector<float> x = rand_vec(rng, static_cast<size_t>(n), -5.f, 5.f), y(static_cast<size_t>(n));
      for (float& v : x) v += 1000.0f;  // large mean, small spread
      const float mx = kt->max(x.data(), n);
      CHECK(mx == *std::max_element(x.begin(), x.end()));
      const float sum = kt->exp_sum(x.data(), y.data(), n, 1.0f, mx);
      double want_sum = 0;
      for (float v : x) want_sum += std::exp(double(v) - mx);
      CHECK(std::fabs(sum - want_sum) <= 1e-5 * want_sum);
      std::vector<float> sc = rand_vec(rng, static_cast<size_t>(n)), bi = rand_vec(rng, static_cast<size_t>(n));
      float mean = 0, inv = 0;
      kt->layer_norm_row(x.data(), y.data(), n, sc.data(), bi.data(), 1e-5f, &mean, &inv);
      double m = 0, v2 = 0;
      for (float v : x) m += v;
      m /= double(n);
      for (float v : x) v2 += (v - m) * (v - m);
      v2 /= double(n);
      const double iv = 1.0 / std::sqrt(v2 + 1e-5);
      CHECK(std::fabs(mean - m) <= 1e-6 * std::fabs(m));
      CHECK(std::fabs(inv - iv) <= 1e-4 * iv);
      for (int64_t i = 0; i < n; ++i) {
        const double want = (x[static_cast<size_t>(i)] - m) * iv * sc[static_cast<size_t>(i)] + bi[static_cast<size_t>(i)];
        CHECK(std::fabs(y[static_cast<size_t>(i)] - want) <= 2e-3 * (1 + std::fabs(want)));
      }
      kt->rms_norm_row(x.data(), y.data(), n, sc.data(), 1e-6f);
      double ss = 0;
      for (float v : x) ss += double(v) * v;
      const double r = 1.0 / std::sqrt(ss / double(n) + 1e-6);
      for (int64_t i = 0; i < n; ++i)
        CHECK(std::fabs(y[static_cast<size_t>(i)] - x[static_cast<size_t>(i)] * r * sc[static_cast<size_t>(i)]) <= 1e-5);
    }
  }
}

TEST_CASE("simd: LIF steps give the reference's spikes exactly, hard and soft reset") {
  std::mt19937 rng(10);
  for (const Kernels* kt : variants()) {
    const std::string isa = isa_name(kt->isa);
    CAPTURE(isa);
    for (bool soft : {false, true})
      for (int64_t n : {1, 9, 16, 37}) {
        std::vector<float> v(static_cast<size_t>(n), 0.0f), vr = v, s(static_cast<size_t>(n));
        for (int step = 0; step < 20; ++step) {
          std::vector<float> x = rand_vec(rng, static_cast<size_t>(n), -1.f, 3.f);
          kt->lif_step(x.data(), v.data(), s.data(), n, 2.0f, 1.0f, 0.0f, soft);
          for (int64_t i = 0; i < n; ++i) {
            float& w = vr[static_cast<size_t>(i)];
            const float h = w + (x[static_cast<size_t>(i)] - (w - 0.0f)) / 2.0f;
            const float sp = h >= 1.0f ? 1.0f : 0.0f;
            w = soft ? h - sp * 1.0f : (sp > 0.0f ? 0.0f : h);
            CHECK(s[static_cast<size_t>(i)] == sp);
            CHECK(v[static_cast<size_t>(i)] == w);
          }
        }
      }
  }
}

TEST_CASE("simd: one SelectiveScan step against float64") {
  std::mt19937 rng(11);
  for (const Kernels* kt : variants()) {
    const std::string isa = isa_name(kt->isa);
    CAPTURE(isa);
    for (int64_t ns : {1, 5, 16, 19}) {
      const int64_t d = 7;
      std::vector<float> h = rand_vec(rng, static_cast<size_t>(d * ns)), h0 = h;
      std::vector<float> a = rand_vec(rng, static_cast<size_t>(d * ns), -2.f, -0.1f);
      std::vector<float> b = rand_vec(rng, static_cast<size_t>(ns)), c = rand_vec(rng, static_cast<size_t>(ns));
      std::vector<float> dt = rand_vec(rng, static_cast<size_t>(d), 0.01f, 1.f), u = rand_vec(rng, static_cast<size_t>(d));
      std::vector<float> y(static_cast<size_t>(d));
      kt->sscan_step(h.data(), a.data(), b.data(), c.data(), dt.data(), u.data(), y.data(), d, ns);
      for (int64_t ch = 0; ch < d; ++ch) {
        double acc = 0;
        for (int64_t s = 0; s < ns; ++s) {
          const size_t i = static_cast<size_t>(ch * ns + s);
          const double hv = std::exp(double(dt[static_cast<size_t>(ch)]) * a[i]) * h0[i] +
                            double(dt[static_cast<size_t>(ch)]) * b[static_cast<size_t>(s)] * u[static_cast<size_t>(ch)];
          CHECK(std::fabs(h[i] - hv) <= 1e-5 * (1 + std::fabs(hv)));
          acc += hv * c[static_cast<size_t>(s)];
        }
        CHECK(std::fabs(y[static_cast<size_t>(ch)] - acc) <= 1e-5 * (1 + std::fabs(acc)));
      }
    }
  }
}

TEST_CASE("simd: SelectiveScan rows: softplus(delta + bias) and the D / SiLU gate against float64") {
  std::vector<float> x;
  for (float v = -60.0f; v <= 60.0f; v += 0.0173f) x.push_back(v);
  for (float v : {0.0f, 1e-7f, -1e-7f, 19.99f, 20.01f, -20.0f, -87.0f, -100.0f}) x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> bias(x.size(), 0.25f), y(x.size());
  for (const Kernels* kt : variants()) {
    const std::string isa = isa_name(kt->isa);
    CAPTURE(isa);
    kt->dt_row(x.data(), bias.data(), y.data(), n, true);
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = double(x[static_cast<size_t>(i)]) + 0.25;
      const double want = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
      if (want < 1e-37) continue;
      worst = std::max(worst, rel_err(y[static_cast<size_t>(i)], want));
    }
    CHECK(worst < 3e-6);
    kt->dt_row(x.data(), nullptr, y.data(), n, false);
    for (int64_t i = 0; i < n; ++i) CHECK(y[static_cast<size_t>(i)] == x[static_cast<size_t>(i)]);
    std::vector<float> g(x.size(), 0.5f), u(x.size(), 2.0f), d(x.size(), -0.75f);
    kt->gate_row(g.data(), u.data(), d.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double z = x[static_cast<size_t>(i)];
      const double want = (0.5 + 2.0 * -0.75) * z / (1.0 + std::exp(-z));
      CHECK(std::fabs(g[static_cast<size_t>(i)] - want) <= 3e-6 * std::fabs(want) + 1e-37);
    }
  }
}
