// Cache-blocked f32 GEMM over the selected micro-kernel (isa.h): C[m, n] (+)= A[m, k] * B[k, n].
//
// B is packed once (pack_b: panels of gemm_nr columns, [k][nr] each, zero-padded) -- at prepare
// for constant operands, into scratch per call for activations (attention's K^T and V). A is read
// in place: row i at a + i * lda with k contiguous floats (lda may be negative: LMU's Toeplitz rows
// run backwards through a reversed sequence), so callers need not copy activations.
//
// Blocking: k in blocks of kKc (an A tile of mr x kKc floats stays in L1 while B panels stream), n
// in blocks of kNcPanels panels (kKc x nc floats of B stay in L2 across all row tiles).
//
// Thread safety: reentrant; no state. Callers parallelize over row ranges or independent matrices.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/simd/isa.h"

namespace tern::cpu::simd {

// Floats of a packed [k, n] B for micro-kernel table `kt`.
size_t packed_b_floats(const Kernels& kt, int64_t k, int64_t n);
// Packs B (element (kk, j) at b[kk * rs + j * cs]) into `out` (packed_b_floats floats).
void pack_b(const Kernels& kt, int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* out);
// C = A * B (accumulate: C += A * B), B packed by pack_b with the same k and n; then the epilogue
// (isa.h), if given, applied by the micro-kernels to each finished tile in registers.
void gemm(const Kernels& kt, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
          int64_t ldc, bool accumulate, const Epilogue* ep = nullptr);
// Same, computing only C[i, j] with the k-range each row tile can need: rows i of tile
// [i0, i0 + mr) use only kk < min(k, i0 + mr + k_offset) (a lower-triangular A, as LMU's causal
// Toeplitz operand, whose zero columns past the diagonal are skipped).
void gemm_lower(const Kernels& kt, int64_t m, int64_t n, int64_t k, int64_t k_offset, const float* a, int64_t lda,
                const float* bp, float* c, int64_t ldc);

}  // namespace tern::cpu::simd
