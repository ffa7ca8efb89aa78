// AArch64 NEON micro-kernels. GEMM tile 8x12: 24 accumulators + 3 B vectors + 1 broadcast of the
// 32 q registers.
#include "cpu/simd/kernels_impl.h"
#include "cpu/simd/vec_neon.h"

namespace tern::cpu::simd {

const Kernels& kernels_neon() {
  static const Kernels k = impl::make_kernels<VecNeon, 8, 3>(Isa::Neon, "gemm_f32_8x12__neon");
  return k;
}

}  // namespace tern::cpu::simd
