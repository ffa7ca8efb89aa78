// Gemm (ONNX semantics, float32): Y = alpha * A' * B' + beta * C, then the fused activation.
// A' / B' are A / B, transposed when trans_a / trans_b; the transposes are just strides handed to
// the shared matrix-multiply core. C broadcasts to [M, N] (scalar, [N], [M, 1], [1, N], [M, N]).
#include <algorithm>

#include "reference/kernel.h"
#include "reference/ops/activation.h"
#include "reference/ops/gemm_kernel.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status gemm(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* c = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (a.dtype != DType::Float32)
    return ctx.unsupported("A is %s; the reference Gemm computes float32 only", dtype_name(a.dtype));
  const auto& o = ctx.opts<fb::GemmOptionsT>();
  const int64_t m = y->shape[0], n = y->shape[1];
  const int64_t k = o.trans_a ? a.shape[0] : a.shape[1];
  // Row-major A is [M, K] (or [K, M] when transposed); likewise B.
  ConstMat va = o.trans_a ? ConstMat{a.as<float>(), 1, m} : ConstMat{a.as<float>(), k, 1};
  ConstMat vb = o.trans_b ? ConstMat{b.as<float>(), 1, k} : ConstMat{b.as<float>(), n, 1};
  float* py = y->as<float>();
  std::fill(py, py + m * n, 0.0f);
  gemm_accumulate(m, n, k, va, vb, {py, n, 1});

  const float alpha = o.alpha, beta = o.beta;
  int64_t cs[kMaxRank] = {0, 0};
  const float* pc = c ? c->as<float>() : nullptr;
  if (c) broadcast_strides(c->shape, y->shape, cs);
  const ActivationParams act = activation_of(o);
  for (int64_t i = 0; i < m; ++i) {
    float* row = py + i * n;
    if (alpha != 1.0f)
      for (int64_t j = 0; j < n; ++j) row[j] *= alpha;
    if (pc) {
      const float* crow = pc + i * cs[0];
      if (cs[1] == 1) {
        for (int64_t j = 0; j < n; ++j) row[j] += beta * crow[j];
      } else {
        const float cv = beta * crow[0];
        for (int64_t j = 0; j < n; ++j) row[j] += cv;
      }
    }
    activate_row(act, row, n);
  }
  return Status::ok();
}

}  // namespace tern::ref
