// MatMul (numpy.matmul semantics, float32), plus the optional bias [N] and activation that fusion
// attaches. 1-D operands are promoted ([K] -> [1, K] for A, [K] -> [K, 1] for B) and the promoted
// dim dropped from the result, which leaves the result's memory layout unchanged. Batch dims
// broadcast; each output matrix is one call into the shared matrix-multiply core.
#include <algorithm>

#include "reference/kernel.h"
#include "reference/ops/activation.h"
#include "reference/ops/gemm_kernel.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status matmul(const KernelContext& ctx) {
  const TensorRef& a = *ctx.in(0);
  const TensorRef& b = *ctx.in(1);
  const TensorRef* bias = ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (a.dtype != DType::Float32)
    return ctx.unsupported("A is %s; the reference MatMul computes float32 only", dtype_name(a.dtype));
  const MatMulDims d = matmul_dims(a.shape, b.shape, y->shape);
  const int64_t m = d.m, k = d.k, n = d.n;
  const Shape &ba = d.batch_a, &bb = d.batch_b, &batch = d.batch;

  const float* pa = a.as<float>();
  const float* pb = b.as<float>();
  float* py = y->as<float>();
  const int64_t total = y->numel();
  std::fill(py, py + total, 0.0f);
  if (total > 0 && k > 0) {
    const Shape* ins[2] = {&ba, &bb};
    const int64_t mat_a = m * k, mat_b = k * n, mat_y = m * n;
    if (bb.numel() == 1 && ba == batch) {
      // B is one matrix shared by every batch: fold A's batch into its rows (A's matrices are
      // consecutive), so B's panels are reused across the whole batch.
      gemm_accumulate(batch.numel() * m, n, k, {pa, k, 1}, {pb, n, 1}, {py, n, 1});
    } else {
      for_each_broadcast<2>(batch, ins, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
        gemm_accumulate(m, n, k, {pa + ia * mat_a, k, 1}, {pb + ib * mat_b, n, 1}, {py + o * mat_y, n, 1});
      });
    }
  }
  const ActivationParams act = activation_of(ctx.opts<fb::MatMulOptionsT>());
  const float* pbias = bias ? bias->as<float>() : nullptr;
  if (!pbias && act.kind == fb::Activation::None) return Status::ok();
  for (int64_t r = 0; n > 0 && r < total / n; ++r) {
    float* row = py + r * n;
    if (pbias)
      for (int64_t j = 0; j < n; ++j) row[j] += pbias[j];
    activate_row(act, row, n);
  }
  return Status::ok();
}

}  // namespace tern::ref
