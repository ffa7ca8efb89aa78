// tern_peak_flops: the machine's fp32 FMA peak, as the denominator of "fraction of peak" in
// tools/bench/compare.py.
//
// A register-resident loop of independent fused multiply-adds: no loads or stores, enough
// accumulators to cover FMA latency x issue width on current cores, so the result is the
// core's FMA throughput x vector width x clock. The widest ISA the CPU supports at run time is
// used (AVX-512 > AVX2+FMA on x86, NEON on Arm, scalar otherwise); --isa forces a narrower one.
//
//   tern_peak_flops [--threads N] [--seconds S] [--isa avx512|avx2|neon|scalar] [--json]
//
// With --threads N, N threads run the loop at once and the sum is reported (plus per thread).
// Each thread's rate is computed from its own CPU time (CLOCK_THREAD_CPUTIME_ID where available),
// so time spent descheduled on a shared machine does not lower the figure; the wall-clock rate is
// reported too. The best of several trials is kept.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__) || defined(__APPLE__)
#include <time.h>
#define TERN_THREAD_CPUTIME 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TERN_X86 1
#elif defined(__aarch64__)
#include <arm_neon.h>
#define TERN_ARM64 1
#endif

namespace {

// Independent accumulators per kernel: at least FMA latency (4) x FMA ports (2), and few enough
// to stay in registers with the two constants (16 ymm on AVX2, 32 zmm/q registers otherwise).
constexpr int kAcc512 = 16, kAccAvx2 = 12, kAccNeon = 16, kAccScalar = 12;

// Each kernel runs `iters` rounds of kAcc FMAs on vectors and returns a value derived from the
// accumulators (so the loop cannot be removed). acc = acc * m + c with m slightly below 1 keeps
// the values bounded (no overflow, no denormals).
using Kernel = float (*)(long iters);

#if TERN_X86
__attribute__((target("avx512f"))) float fma_avx512(long iters) {
  __m512 acc[kAcc512];
  for (int i = 0; i < kAcc512; ++i) acc[i] = _mm512_set1_ps(1.0f + 0.01f * i);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAcc512; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kAcc512; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  float t = 0;
  for (float v : out) t += v;
  return t;
}

__attribute__((target("avx2,fma"))) float fma_avx2(long iters) {
  __m256 acc[kAccAvx2];
  for (int i = 0; i < kAccAvx2; ++i) acc[i] = _mm256_set1_ps(1.0f + 0.01f * i);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAccAvx2; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kAccAvx2; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  float t = 0;
  for (float v : out) t += v;
  return t;
}
#endif

#if TERN_ARM64
float fma_neon(long iters) {
  float32x4_t acc[kAccNeon];
  for (int i = 0; i < kAccNeon; ++i) acc[i] = vdupq_n_f32(1.0f + 0.01f * i);
  const float32x4_t m = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAccNeon; ++i) acc[i] = vfmaq_f32(c, acc[i], m);
  }
  float32x4_t s = acc[0];
  for (int i = 1; i < kAccNeon; ++i) s = vaddq_f32(s, acc[i]);
  return vaddvq_f32(s);
}
#endif

float fma_scalar(long iters) {
  // scalar fallback (a*b + c: fmaf would be a library call without hardware FMA)
  float acc[kAccScalar];
  for (int i = 0; i < kAccScalar; ++i) acc[i] = 1.0f + 0.01f * i;
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAccScalar; ++i) acc[i] = acc[i] * 0.999999f + 1e-6f;
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

struct Isa {
  const char* name;
  Kernel kernel;
  int lanes;       // floats per vector
  int accumulators;  // vectors updated per loop iteration
};

std::vector<Isa> available_isas() {
  std::vector<Isa> v;
#if TERN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) v.push_back({"avx512", fma_avx512, 16, kAcc512});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back({"avx2", fma_avx2, 8, kAccAvx2});
#endif
#if TERN_ARM64
  v.push_back({"neon", fma_neon, 4, kAccNeon});
#endif
  v.push_back({"scalar", fma_scalar, 1, kAccScalar});
  return v;
}

using Clock = std::chrono::steady_clock;

// Seconds of CPU time consumed by the calling thread (wall time where that clock is missing).
double thread_seconds() {
#if TERN_THREAD_CPUTIME
  timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
#endif
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

struct Rate {
  double cpu = 0, wall = 0;  // GFLOP/s per CPU second and per wall second
};

// Runs `kernel` on `threads` threads for about `seconds`; returns total GFLOP/s (CPU-time and wall).
Rate measure(const Isa& isa, int threads, double seconds, std::vector<double>* per_thread) {
  // calibrate the iteration count on one thread (~20 ms of CPU time)
  long iters = 1 << 16;
  for (;;) {
    double t0 = thread_seconds();
    volatile float sink = isa.kernel(iters);
    (void)sink;
    double dt = thread_seconds() - t0;
    if (dt > 0.02) {
      iters = static_cast<long>(iters * seconds / dt);
      break;
    }
    iters *= 2;
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Rate> rates(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      auto w0 = Clock::now();
      double c0 = thread_seconds();
      volatile float sink = isa.kernel(iters);
      (void)sink;
      double cpu = thread_seconds() - c0;
      double wall = std::chrono::duration<double>(Clock::now() - w0).count();
      double flop = 2.0 * isa.accumulators * isa.lanes * static_cast<double>(iters);
      rates[t] = {flop / cpu / 1e9, flop / wall / 1e9};
    });
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  for (auto& th : pool) th.join();
  Rate total;
  if (per_thread) per_thread->clear();
  for (const Rate& r : rates) {
    total.cpu += r.cpu;
    total.wall += r.wall;
    if (per_thread) per_thread->push_back(r.cpu);
  }
  return total;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--trials K] [--isa avx512|avx2|neon|scalar] [--json]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, trials = 5;
  double seconds = 0.2;
  std::string isa_name;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--json") json = true;
    else if (a == "--threads" && (v = next())) threads = std::max(1, std::atoi(v));
    else if (a == "--seconds" && (v = next())) seconds = std::max(0.01, std::atof(v));
    else if (a == "--trials" && (v = next())) trials = std::max(1, std::atoi(v));
    else if (a == "--isa" && (v = next())) isa_name = v;
    else return usage(argv[0]);
  }
  auto isas = available_isas();
  const Isa* isa = &isas.front();
  if (!isa_name.empty()) {
    auto it = std::find_if(isas.begin(), isas.end(), [&](const Isa& x) { return isa_name == x.name; });
    if (it == isas.end()) {
      std::fprintf(stderr, "tern_peak_flops: ISA '%s' is not available on this CPU\n", isa_name.c_str());
      return 1;
    }
    isa = &*it;
  }
  Rate best;
  std::vector<double> best_per_thread, per_thread;
  for (int k = 0; k < trials; ++k) {
    Rate r = measure(*isa, threads, seconds, &per_thread);
    if (r.cpu > best.cpu) best.cpu = r.cpu, best_per_thread = per_thread;
    best.wall = std::max(best.wall, r.wall);
  }
  if (json) {
    std::printf("{\"isa\": \"%s\", \"threads\": %d, \"trials\": %d, \"gflops\": %.2f, \"gflops_wall\": %.2f, \"gflops_per_thread\": [",
                isa->name, threads, trials, best.cpu, best.wall);
    for (size_t t = 0; t < best_per_thread.size(); ++t) std::printf("%s%.2f", t ? ", " : "", best_per_thread[t]);
    std::printf("]}\n");
  } else {
    std::printf("fp32 FMA peak (%s, %d thread%s, best of %d): %.1f GFLOP/s per CPU second (%.1f per wall second)\n", isa->name,
                threads, threads == 1 ? "" : "s", trials, best.cpu, best.wall);
  }
  return 0;
}
