// NEON micro-kernels. AArch64: GEMM tile 8x12, 24 accumulators + 3 B vectors + 1 broadcast of the
// 32 q registers. armv7 (16 q registers): tile 6x8, 12 accumulators + 2 B vectors + 1 broadcast.
#include "cpu/simd/kernels_impl.h"
#include "cpu/simd/vec_neon.h"

namespace tern::cpu::simd {

const Kernels& kernels_neon() {
#if defined(__aarch64__)
  static const Kernels k = impl::make_kernels<VecNeon, 8, 3>(Isa::Neon, "gemm_f32_8x12__neon");
#else
  static const Kernels k = impl::make_kernels<VecNeon, 6, 2>(Isa::Neon, "gemm_f32_6x8__neon_armv7");
#endif
  return k;
}

}  // namespace tern::cpu::simd
