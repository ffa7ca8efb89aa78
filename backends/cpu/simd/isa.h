// Tern's own CPU micro-kernels behind one portable interface.
//
// Every ISA variant (AVX-512, AVX2+FMA, NEON, scalar) fills the same table of function pointers,
// `Kernels`; the CPU kernels (backends/cpu/ops/*.cpp) call through the table chosen once per
// process from the CPU's features (cpuinfo), so one binary runs the best variant the machine has.
// The variants are one templated implementation (kernels_impl.h) instantiated per ISA in its own
// translation unit compiled with that ISA's flags (kernels_<isa>.cpp), so nothing outside those
// files is ever compiled with -mavx512f and the binary still starts on a CPU without it.
//
// TERN_CPU_ISA=scalar|avx2|avx512|neon forces a variant (tests run each available one); naming one
// the machine or build lacks falls back to the best available, and `active_isa_forced_fallback`
// says so.
//
// Thread safety: `kernels()` is initialized once (thread-safe static) and immutable afterwards;
// every micro-kernel is reentrant and writes only through its output pointers.
#pragma once

#include <cstdint>

namespace tern::cpu::simd {

enum class Isa : int { Scalar = 0, Avx2, Avx512, Neon };
const char* isa_name(Isa isa);

// Kinds of `activation` (the schema's fb::Activation values, kept numeric so this header stays free
// of the generated schema).
enum class Act : int { None = 0, Relu, Clip, Sigmoid, SiLU, GELU, GELUTanh, HardSwish, HardSigmoid, Tanh };

// What a GEMM applies to its finished C tile before storing it: C[i, j] = act(C[i, j] + bias[j])
// (bias may be null), the same operations as Kernels::bias_act on the stored C.
struct Epilogue {
  const float* bias = nullptr;  // at the tile's first column
  Act act = Act::None;
  float p0 = 0, p1 = 0;
};

struct Kernels {
  Isa isa;
  const char* gemm_name;  // e.g. "gemm_f32_12x32__avx512"
  int gemm_mr, gemm_nr;   // the micro-kernel's register tile

  // C[m, n] (+)= A[m, k] * B[k, n] for m <= gemm_mr, n <= gemm_nr: A row r at a + r * lda (k
  // contiguous floats; lda may be negative), B packed by pack_b (the panel for these n columns,
  // gemm_nr floats per k step), C row r at c + r * ldc. accumulate: add to C instead of storing.
  // ep (nullable): applied to the (accumulated) tile in registers before the store.
  void (*gemm)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
               int64_t ldc, bool accumulate, const Epilogue* ep);
  // The same product for m <= 4 rows (index m), k unrolled into two accumulator sets: for
  // matrix-vector shaped work and row tails, where the full tile would compute rows it drops.
  void (*gemm_rows[5])(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
                       int64_t ldc, bool accumulate, const Epilogue* ep);

  // Rows of x: y = exp(scale * x - shift), returns the sum of y (float lanes).
  float (*exp_sum)(const float* x, float* y, int64_t n, float scale, float shift);
  float (*max)(const float* x, int64_t n);  // n >= 1
  void (*scale)(float* y, int64_t n, float s);  // y *= s
  // Column helpers for softmax along a non-last axis: acc = max(acc, x); y = exp(x - mx), sum += y;
  // y *= s (per element).
  void (*max_acc)(float* acc, const float* x, int64_t n);
  void (*exp_sub_acc)(const float* x, const float* mx, float* y, float* sum, int64_t n);
  void (*mul)(float* y, const float* s, int64_t n);

  // y = activation(x) elementwise (may be in place); p0/p1: Clip bounds, HardSigmoid alpha/beta.
  void (*activation)(Act kind, const float* x, float* y, int64_t n, float p0, float p1);
  // y = x + bias (per column, bias of n floats), then activation; one row, in place allowed.
  void (*bias_act)(const float* bias, float* y, int64_t n, Act kind, float p0, float p1);

  // One LayerNorm row (n >= 1): mean/var by the corrected two-pass algorithm; scale/bias of n floats
  // (bias may be null); mean/inv_std out (may be null).
  void (*layer_norm_row)(const float* x, float* y, int64_t n, const float* scale, const float* bias, float eps,
                         float* mean, float* inv_std);
  // One RMSNorm row: y = x / sqrt(mean(x^2) + eps) * scale (scale may be null).
  void (*rms_norm_row)(const float* x, float* y, int64_t n, const float* scale, float eps);

  // One LIF time step over n neurons, the spec's float operations in its order (division by tau
  // included) so spikes match the reference exactly. s may be null.
  void (*lif_step)(const float* x, float* v, float* s, int64_t n, float tau, float thr, float v_reset, bool soft);

  // One SelectiveScan time step over d channels with state h [d, ns]: for each channel c,
  // h = exp(dt[c] * A[c]) * h + (dt[c] * B) * u[c]; y[c] = sum(h * C) (y may be null).
  void (*sscan_step)(float* h, const float* a, const float* b, const float* c, const float* dt, const float* u,
                     float* y, int64_t d, int64_t ns);
  // SelectiveScan's per-step rows: dt = softplus(delta + bias) (bias may be null; softplus
  // optional), and y = (y + u * D) * silu(z) (D, z may be null).
  void (*dt_row)(const float* delta, const float* bias, float* dt, int64_t n, bool softplus);
  void (*gate_row)(float* y, const float* u, const float* d, const float* z, int64_t n);
};

// The variant in use (selected once: TERN_CPU_ISA, else the best the CPU supports).
const Kernels& kernels();
Isa active_isa();
const char* active_isa_name();
// The table of one ISA if this build has it and this CPU can run it, else nullptr.
const Kernels* kernels_for(Isa isa);

// Per-ISA tables (kernels_<isa>.cpp); only those compiled in exist.
const Kernels& kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();
#endif
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA))
const Kernels& kernels_neon();
#endif

}  // namespace tern::cpu::simd
