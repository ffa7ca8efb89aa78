// Run-time selection of the micro-kernel variant: the CPU's features from cpuinfo (when the build
// has it), overridable with TERN_CPU_ISA.
#include "cpu/simd/isa.h"

#include <cstdlib>
#include <initializer_list>
#include <cstring>

#if defined(TERN_HAVE_CPUINFO)
#include <cpuinfo.h>
#endif
#if defined(__arm__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tern::cpu::simd {

namespace {

bool cpu_has(Isa isa) {
#if defined(TERN_HAVE_CPUINFO)
  static const bool ok = cpuinfo_initialize();
  if (!ok) return isa == Isa::Scalar;
#endif
  switch (isa) {
    case Isa::Scalar: return true;
#if defined(__x86_64__) || defined(_M_X64)
#if defined(TERN_HAVE_CPUINFO)
    case Isa::Avx2: return cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3();
    case Isa::Avx512: return cpuinfo_has_x86_avx512f();
#else
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::Avx512: return __builtin_cpu_supports("avx512f");
#endif
#endif
#if defined(__aarch64__)
    case Isa::Neon: return true;  // Advanced SIMD is mandatory on AArch64
#elif defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA)
    // armv7: the armhf toolchain builds everything for NEON-VFPv4 (its baseline); still ask the
    // kernel, so a CPU without it gets the scalar kernels here rather than SIGILL in ours.
    case Isa::Neon: return (getauxval(AT_HWCAP) & HWCAP_NEON) && (getauxval(AT_HWCAP) & HWCAP_VFPv4);
#endif
    default: return false;
  }
}

const Kernels* table_of(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return &kernels_scalar();
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return &kernels_avx2();
    case Isa::Avx512: return &kernels_avx512();
#endif
#if defined(__aarch64__) || (defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA))
    case Isa::Neon: return &kernels_neon();
#endif
    default: return nullptr;
  }
}

const Kernels& select() {
  if (const char* env = std::getenv("TERN_CPU_ISA")) {
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
      if (std::strcmp(env, isa_name(isa)) == 0)
        if (const Kernels* k = kernels_for(isa)) return *k;
  }
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Neon})
    if (const Kernels* k = kernels_for(isa)) return *k;
  return kernels_scalar();
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

const Kernels* kernels_for(Isa isa) { return cpu_has(isa) ? table_of(isa) : nullptr; }

const Kernels& kernels() {
  static const Kernels& k = select();
  return k;
}

Isa active_isa() { return kernels().isa; }
const char* active_isa_name() { return isa_name(kernels().isa); }

}  // namespace tern::cpu::simd
