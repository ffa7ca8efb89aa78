// The scalar micro-kernels: no intrinsics, every build and CPU has them. Compiled with the
// project's default flags.
#include "cpu/simd/kernels_impl.h"
#include "cpu/simd/vec_scalar.h"

namespace tern::cpu::simd {

const Kernels& kernels_scalar() {
  static const Kernels k = impl::make_kernels<VecScalar, 4, 4>(Isa::Scalar, "gemm_f32_4x4__scalar");
  return k;
}

}  // namespace tern::cpu::simd
