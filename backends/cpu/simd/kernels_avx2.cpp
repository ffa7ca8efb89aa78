// AVX2 + FMA micro-kernels (this file alone is compiled with -mavx2 -mfma). GEMM tile 6x16:
// 12 accumulators + 2 B vectors + 1 broadcast fill 15 of the 16 ymm registers.
#include "cpu/simd/kernels_impl.h"
#include "cpu/simd/vec_avx2.h"

namespace tern::cpu::simd {

const Kernels& kernels_avx2() {
  static const Kernels k = impl::make_kernels<VecAvx2, 6, 2>(Isa::Avx2, "gemm_f32_6x16__avx2");
  return k;
}

}  // namespace tern::cpu::simd
