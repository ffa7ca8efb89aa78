// The float32 matrix-multiply core shared by Gemm, MatMul, pointwise Conv and ConvTranspose:
//   C[i, j] += sum_k A[i, k] * B[k, j]
// over strided views, so callers express transposes, batch slices and conv windows without copies.
//
// Why this shape: these kernels run whole models during int8 calibration, so the plain i-k-j loop
// (which streams C through L1 once per k) is replaced by a register tile: an MR x NR block of C
// is held in local accumulators across the whole k loop, and each B row segment loaded feeds MR
// rows. The fixed-size inner loops are written so the compiler keeps the tile in vector registers
// (4 x 8 fits SSE2's 16 registers and NEON's 32 with room for operands). k and j are blocked so
// the B panel in use stays in L2. A B whose columns are not contiguous (Gemm's trans_b) is copied
// a small block at a time into a stack buffer, which keeps the kernel allocation-free.
//
// Sums run over k in order (the few-rows-by-transposed-B path: in eight interleaved lanes), in
// float32 with no wider accumulator, like PyTorch's CPU kernels; results match a naive float loop
// to within rounding, not bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>

// Marks a function whose reduction loop updates a register tile of accumulators. GCC's loop
// vectorizer would otherwise vectorize that loop as dozens of in-order float reductions (it may not
// reassociate them), which runs about 4x slower than the plain loop whose fixed-size inner loops it
// vectorizes across the tile. Clang never vectorizes in-order float reductions, so it needs nothing.
#if defined(__GNUC__) && !defined(__clang__)
#define TERN_REF_TILE_KERNEL __attribute__((optimize("no-tree-loop-vectorize"))) inline
#else
#define TERN_REF_TILE_KERNEL inline
#endif

namespace tern::ref {

struct ConstMat {
  const float* p;
  int64_t rs;  // elements between rows
  int64_t cs;  // elements between columns
};

struct Mat {
  float* p;
  int64_t rs;
  int64_t cs;
};

namespace gemm_detail {

constexpr int kMR = 4;
constexpr int kNR = 8;
constexpr int64_t kKC = 256;        // k block: an MR x KC slice of A and KC x NC of B per tile
constexpr int64_t kNC = 512;        // j block: KC x NC floats of B = 512 KiB
constexpr int64_t kPackKC = 64;     // packed block of a column-strided B: 64 x 64 floats = 16 KiB
constexpr int64_t kPackNC = 64;
constexpr int64_t kDotRows = 24;    // below this many rows, a transposed B is not worth packing

// Full MR x NR tile. b has contiguous columns; C may be strided.
template <int MR, int NR>
TERN_REF_TILE_KERNEL void tile(int64_t kc, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t b_rs,
                               float* c, int64_t c_rs, int64_t c_cs) {
  float acc[MR][NR];
  if (c_cs == 1) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = c[r * c_rs + j];
  } else {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = c[r * c_rs + j * c_cs];
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * b_rs;
    for (int r = 0; r < MR; ++r) {
      float av = a[r * a_rs + k * a_cs];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * bk[j];
    }
  }
  if (c_cs == 1) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) c[r * c_rs + j] = acc[r][j];
  } else {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) c[r * c_rs + j * c_cs] = acc[r][j];
  }
}

// Right-edge tile: MR rows, nr < NR columns.
template <int MR>
TERN_REF_TILE_KERNEL void tile_edge(int64_t kc, int nr, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                                    int64_t b_rs, float* c, int64_t c_rs, int64_t c_cs) {
  float acc[MR][kNR] = {};
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < nr; ++j) acc[r][j] = c[r * c_rs + j * c_cs];
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * b_rs;
    for (int r = 0; r < MR; ++r) {
      float av = a[r * a_rs + k * a_cs];
      for (int j = 0; j < nr; ++j) acc[r][j] += av * bk[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < nr; ++j) c[r * c_rs + j * c_cs] = acc[r][j];
}

template <int MR>
inline void row_block(int64_t kc, int64_t nc, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                      int64_t b_rs, float* c, int64_t c_rs, int64_t c_cs) {
  int64_t j = 0;
  for (; j + kNR <= nc; j += kNR) tile<MR, kNR>(kc, a, a_rs, a_cs, b + j, b_rs, c + j * c_cs, c_rs, c_cs);
  // A half-width tile before the runtime-width edge: N = 49 or 196 (7x7, 14x14 maps) is common.
  if (j + kNR / 2 <= nc) {
    tile<MR, kNR / 2>(kc, a, a_rs, a_cs, b + j, b_rs, c + j * c_cs, c_rs, c_cs);
    j += kNR / 2;
  }
  if (j < nc) tile_edge<MR>(kc, static_cast<int>(nc - j), a, a_rs, a_cs, b + j, b_rs, c + j * c_cs, c_rs, c_cs);
}

// All m rows against one kc x nc block of B (contiguous columns, row stride b_rs).
inline void block(int64_t m, int64_t kc, int64_t nc, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                  int64_t b_rs, float* c, int64_t c_rs, int64_t c_cs) {
  int64_t i = 0;
  for (; i + kMR <= m; i += kMR) row_block<kMR>(kc, nc, a + i * a_rs, a_rs, a_cs, b, b_rs, c + i * c_rs, c_rs, c_cs);
  for (; i < m; ++i) row_block<1>(kc, nc, a + i * a_rs, a_rs, a_cs, b, b_rs, c + i * c_rs, c_rs, c_cs);
}

// Eight interleaved partial sums: a single running float sum is a dependency chain the compiler
// may not reorder, eight independent ones vectorize.
inline float dot(const float* x, const float* y, int64_t n) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) part[l] += x[i + l] * y[i + l];
  for (; i < n; ++i) part[0] += x[i] * y[i];
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

}  // namespace gemm_detail

// C[m x n] += A[m x k] * B[k x n]. C must not overlap A or B. Any extent may be zero.
inline void gemm_accumulate(int64_t m, int64_t n, int64_t k, ConstMat a, ConstMat b, Mat c) {
  using namespace gemm_detail;
  if (m <= 0 || n <= 0 || k <= 0) return;
  if (b.cs == 1 || n == 1) {
    for (int64_t j0 = 0; j0 < n; j0 += kNC) {
      int64_t nc = std::min(kNC, n - j0);
      for (int64_t k0 = 0; k0 < k; k0 += kKC) {
        int64_t kc = std::min(kKC, k - k0);
        block(m, kc, nc, a.p + k0 * a.cs, a.rs, a.cs, b.p + k0 * b.rs + j0, b.rs, c.p + j0 * c.cs, c.rs, c.cs);
      }
    }
    return;
  }
  if (m < kDotRows && a.cs == 1 && b.rs == 1) {
    // A few rows against a transposed B (a Linear layer on one token): rows of A and columns of B
    // are both contiguous, so dot products beat packing B for so little reuse.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c.p[i * c.rs + j * c.cs] += dot(a.p + i * a.rs, b.p + j * b.cs, k);
    return;
  }
  float packed[kPackKC * kPackNC];
  for (int64_t j0 = 0; j0 < n; j0 += kPackNC) {
    int64_t nc = std::min(kPackNC, n - j0);
    for (int64_t k0 = 0; k0 < k; k0 += kPackKC) {
      int64_t kc = std::min(kPackKC, k - k0);
      // Read B along its contiguous direction (k, for a transposed B) and write rows of the pack.
      for (int64_t j = 0; j < nc; ++j) {
        const float* src = b.p + k0 * b.rs + (j0 + j) * b.cs;
        for (int64_t kk = 0; kk < kc; ++kk) packed[kk * nc + j] = src[kk * b.rs];
      }
      block(m, kc, nc, a.p + k0 * a.cs, a.rs, a.cs, packed, nc, c.p + j0 * c.cs, c.rs, c.cs);
    }
  }
}

}  // namespace tern::ref
