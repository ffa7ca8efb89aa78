#include "cpu/simd/gemm.h"

#include <algorithm>
#include <cstring>

namespace tern::cpu::simd {

namespace {

constexpr int64_t kKc = 256;
constexpr int64_t kNcFloats = 512;  // columns of B per block (rounded to whole panels)

}  // namespace

size_t packed_b_floats(const Kernels& kt, int64_t k, int64_t n) {
  const int64_t nr = kt.gemm_nr;
  return static_cast<size_t>((n + nr - 1) / nr * nr * k);
}

void pack_b(const Kernels& kt, int64_t k, int64_t n, const float* b, int64_t rs, int64_t cs, float* out) {
  const int64_t nr = kt.gemm_nr;
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int64_t w = std::min(nr, n - j0);
    float* panel = out + j0 * k;  // panel j0 / nr starts at (j0 / nr) * nr * k
    for (int64_t kk = 0; kk < k; ++kk) {
      float* dst = panel + kk * nr;
      const float* src = b + kk * rs + j0 * cs;
      if (cs == 1) {
        std::memcpy(dst, src, static_cast<size_t>(w) * sizeof(float));
      } else {
        for (int64_t j = 0; j < w; ++j) dst[j] = src[j * cs];
      }
      for (int64_t j = w; j < nr; ++j) dst[j] = 0.0f;
    }
  }
}

void gemm(const Kernels& kt, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bp, float* c,
          int64_t ldc, bool accumulate, const Epilogue* ep) {
  if (m <= 0 || n <= 0) return;
  if (ep && !ep->bias && ep->act == Act::None) ep = nullptr;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::memset(c + i * ldc, 0, static_cast<size_t>(n) * sizeof(float));
    if (ep)
      for (int64_t i = 0; i < m; ++i) kt.bias_act(ep->bias, c + i * ldc, n, ep->act, ep->p0, ep->p1);
    return;
  }
  const int64_t mr = kt.gemm_mr, nr = kt.gemm_nr;
  const int64_t nc = std::max<int64_t>(1, kNcFloats / nr) * nr;
  for (int64_t k0 = 0; k0 < k; k0 += kKc) {
    const int64_t kc = std::min(kKc, k - k0);
    const bool acc = accumulate || k0 > 0;
    for (int64_t j0 = 0; j0 < n; j0 += nc) {
      const int64_t jn = std::min(n, j0 + nc);
      for (int64_t i0 = 0; i0 < m; i0 += mr) {
        const int64_t rows = std::min(mr, m - i0);
        const float* ai = a + i0 * lda + k0;
        const auto uk = rows <= 4 && rows < mr ? kt.gemm_rows[rows] : kt.gemm;
        const bool last = k0 + kc == k;  // the tile is final: the epilogue goes with its store
        for (int64_t j = j0; j < jn; j += nr) {
          Epilogue tile;
          if (ep && last) tile = {ep->bias ? ep->bias + j : nullptr, ep->act, ep->p0, ep->p1};
          uk(rows, std::min(nr, n - j), kc, ai, lda, bp + j * k + k0 * nr, c + i0 * ldc + j, ldc, acc, ep && last ? &tile : nullptr);
        }
      }
    }
  }
}

void gemm_lower(const Kernels& kt, int64_t m, int64_t n, int64_t k, int64_t k_offset, const float* a, int64_t lda,
                const float* bp, float* c, int64_t ldc) {
  const int64_t mr = kt.gemm_mr, nr = kt.gemm_nr;
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t rows = std::min(mr, m - i0);
    const int64_t kend = std::clamp<int64_t>(i0 + rows + k_offset, 0, k);
    const float* ai = a + i0 * lda;
    if (kend == 0) {
      for (int64_t i = 0; i < rows; ++i) std::memset(c + (i0 + i) * ldc, 0, static_cast<size_t>(n) * sizeof(float));
      continue;
    }
    for (int64_t k0 = 0; k0 < kend; k0 += kKc) {
      const int64_t kc = std::min(kKc, kend - k0);
      const auto uk = rows <= 4 && rows < mr ? kt.gemm_rows[rows] : kt.gemm;
      for (int64_t j = 0; j < n; j += nr)
        uk(rows, std::min(nr, n - j), kc, ai + k0, lda, bp + j * k + k0 * nr, c + i0 * ldc + j, ldc, k0 > 0, nullptr);
    }
  }
}

}  // namespace tern::cpu::simd
