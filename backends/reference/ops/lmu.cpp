// tern.LMU: the linear time-invariant memory of the Legendre Memory Unit (semantics:
// shared/spec/tern_ops.py): m_t[b, c, :] = A @ m_{t-1}[b, c, :] + B * u[b, t, c].
//
// The matvec is done column by column (m_t += A[:, j] * m_{t-1}[j]) over a transposed copy of A,
// so every inner loop runs over n contiguous floats in both operands and A^T, n x n, stays in L1
// for the whole scan. Sums run over j in order, in float32 like the spec (whose BLAS matmul may
// order them otherwise: the two agree to a few ulp).
#include <algorithm>
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

constexpr int64_t kAlignFloats = 16;  // 64 bytes

int64_t round_up(int64_t v) { return (v + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

}  // namespace

// A^T [n, n], then two [c, n] state buffers (previous and next step when the m output is absent;
// with m present, a step writes straight into m and reads the previous step back from it). The
// state is copied out to mT only when a batch is done, so mT may share memory with m0.
size_t lmu_scratch(const KernelContext& ctx) {
  const TensorRef* u = ctx.in(0);
  const TensorRef* a = ctx.in(1);
  if (!u || !a || u->shape.rank != 3 || a->shape.rank != 2) return 0;
  int64_t c = u->shape[2], n = a->shape[0];
  return static_cast<size_t>(round_up(n * n) + 2 * round_up(c * n)) * sizeof(float);
}

Status lmu(const KernelContext& ctx) {
  const TensorRef& u = *ctx.in(0);
  const TensorRef& a = *ctx.in(1);
  const TensorRef& bv = *ctx.in(2);
  const TensorRef* m0 = ctx.in(3);
  const TensorRef* m = ctx.out(0);
  const TensorRef* mt = ctx.out(1);
  if (!m && !mt) return Status::ok();

  const int64_t nb = u.shape[0], L = u.shape[1], ch = u.shape[2], n = a.shape[0];
  const int64_t cn = ch * n;
  if (n > 0 && !ctx.scratch) return ctx.error("needs %zu bytes of scratch and got none", lmu_scratch(ctx));
  float* at = static_cast<float*>(ctx.scratch);
  float* buf[2] = {at + round_up(n * n), at + round_up(n * n) + round_up(cn)};

  const float* pa = a.as<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) at[j * n + i] = pa[i * n + j];
  const float* pb = bv.as<float>();
  const float* pu = u.as<float>();
  float* pm = m ? m->as<float>() : nullptr;

  for (int64_t b = 0; b < nb; ++b) {
    if (m0) std::memcpy(buf[0], m0->as<float>() + b * cn, static_cast<size_t>(cn) * sizeof(float));
    else std::fill(buf[0], buf[0] + cn, 0.0f);
    const float* prev = buf[0];
    for (int64_t t = 0; t < L; ++t) {
      float* next = pm ? pm + (b * L + t) * cn : (prev == buf[0] ? buf[1] : buf[0]);
      const float* ut = pu + (b * L + t) * ch;
      for (int64_t c = 0; c < ch && n > 0; ++c) {
        const float* src = prev + c * n;
        float* dst = next + c * n;
        const float x0 = src[0];
        for (int64_t i = 0; i < n; ++i) dst[i] = at[i] * x0;
        for (int64_t j = 1; j < n; ++j) {
          const float xj = src[j];
          const float* col = at + j * n;  // column j of A
          for (int64_t i = 0; i < n; ++i) dst[i] += col[i] * xj;
        }
        const float uc = ut[c];
        for (int64_t i = 0; i < n; ++i) dst[i] = dst[i] + uc * pb[i];
      }
      prev = next;
    }
    if (mt) std::memcpy(mt->as<float>() + b * cn, prev, static_cast<size_t>(cn) * sizeof(float));
  }
  return Status::ok();
}

}  // namespace tern::ref
