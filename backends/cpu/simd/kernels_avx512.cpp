// AVX-512F micro-kernels (this file alone is compiled with -mavx512f -mfma). GEMM tile 12x32:
// 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers, enough independent FMAs
// to cover two FMA pipes of latency 4.
#include "cpu/simd/kernels_impl.h"
#include "cpu/simd/vec_avx512.h"

namespace tern::cpu::simd {

const Kernels& kernels_avx512() {
  static const Kernels k = impl::make_kernels<VecAvx512, 12, 2>(Isa::Avx512, "gemm_f32_12x32__avx512");
  return k;
}

}  // namespace tern::cpu::simd
