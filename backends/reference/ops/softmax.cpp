// Softmax and LogSoftmax along one axis (ONNX opset-13 semantics, float32), numerically stable:
//   Softmax:    y = exp(x - max) / sum(exp(x - max))
//   LogSoftmax: y = x - max - log(sum(exp(x - max)))
// with max and sum over the axis. A row containing NaN gives NaN; a row of only -inf gives NaN
// (-inf - -inf), like numpy and PyTorch.
//
// With the axis last, each row is contiguous. Otherwise the tensor is [outer, n, inner] and the
// kernel walks a block of up to kChunk inner positions at once, keeping their running max and sum
// in stack buffers, so every inner loop is over contiguous floats instead of striding along the axis.
#include <algorithm>
#include <cmath>

#include "reference/kernel.h"
#include "reference/ops/reduce_lanes.h"

namespace tern::ref {

namespace {

constexpr int64_t kChunk = 256;

void softmax_row(const float* x, float* y, int64_t n, bool log) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  if (log) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
    // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds log(sum) to the ulp of a
    // large max.
    const float log_sum = static_cast<float>(std::log(sum));
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mx) - log_sum;
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - mx);
  const float inv = static_cast<float>(1.0 / sum_f32(y, n));
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// x, y: [n, inner] with inner > 1, one block of `len` <= kChunk columns starting at column 0.
void softmax_columns(const float* x, float* y, int64_t n, int64_t inner, int64_t len, bool log) {
  float mx[kChunk], sum[kChunk];
  for (int64_t j = 0; j < len; ++j) mx[j] = x[j];
  for (int64_t a = 1; a < n; ++a) {
    const float* xa = x + a * inner;
    for (int64_t j = 0; j < len; ++j) mx[j] = std::max(mx[j], xa[j]);
  }
  std::fill(sum, sum + len, 0.0f);
  for (int64_t a = 0; a < n; ++a) {
    const float* xa = x + a * inner;
    float* ya = y + a * inner;
    if (log) {
      for (int64_t j = 0; j < len; ++j) sum[j] += std::exp(xa[j] - mx[j]);
    } else {
      for (int64_t j = 0; j < len; ++j) {
        ya[j] = std::exp(xa[j] - mx[j]);
        sum[j] += ya[j];
      }
    }
  }
  if (log) {
    for (int64_t j = 0; j < len; ++j) sum[j] = std::log(sum[j]);
    for (int64_t a = 0; a < n; ++a)
      for (int64_t j = 0; j < len; ++j) y[a * inner + j] = (x[a * inner + j] - mx[j]) - sum[j];
  } else {
    for (int64_t j = 0; j < len; ++j) sum[j] = 1.0f / sum[j];
    for (int64_t a = 0; a < n; ++a)
      for (int64_t j = 0; j < len; ++j) y[a * inner + j] *= sum[j];
  }
}

}  // namespace

Status softmax(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (x.dtype != DType::Float32)
    return ctx.unsupported("X is %s; the reference kernel computes float32 only", dtype_name(x.dtype));
  const int axis = ctx.opts<fb::AxisOptionsT>().axis;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const int64_t n = x.shape[axis];
  if (n == 0 || outer == 0 || inner == 0) return Status::ok();
  const bool log = ctx.op == OpType::LogSoftmax;
  const float* px = x.as<float>();
  float* py = y->as<float>();
  for (int64_t o = 0; o < outer; ++o) {
    const float* xo = px + o * n * inner;
    float* yo = py + o * n * inner;
    if (inner == 1) {
      softmax_row(xo, yo, n, log);
      continue;
    }
    for (int64_t j0 = 0; j0 < inner; j0 += kChunk)
      softmax_columns(xo + j0, yo + j0, n, inner, std::min(kChunk, inner - j0), log);
  }
  return Status::ok();
}

}  // namespace tern::ref
