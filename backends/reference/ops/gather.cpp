// Gather along one axis, any data dtype, int32 or int64 indices. Negative indices count from the
// end (ONNX); any index outside [-n, n) is an error naming it. Every index is checked before
// anything is written, so a failed Gather leaves its output untouched.
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

template <typename I>
Status gather_impl(const KernelContext& ctx, const TensorRef& x, const I* idx, int64_t n_idx, const TensorRef& y) {
  const int axis = ctx.opts<fb::AxisOptionsT>().axis;
  const int64_t dim = x.shape[axis];
  for (int64_t j = 0; j < n_idx; ++j) {
    int64_t k = static_cast<int64_t>(idx[j]);
    if (k < -dim || k >= dim)
      return ctx.error("index %lld (at flat position %lld of the indices) is out of range for axis %d of data %s",
                       static_cast<long long>(k), static_cast<long long>(j), axis, x.shape.str().c_str());
  }
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const size_t row = static_cast<size_t>(inner) * dtype_size(x.dtype);
  if (row == 0) return Status::ok();
  const uint8_t* src = x.as<const uint8_t>();
  uint8_t* dst = y.as<uint8_t>();
  for (int64_t o = 0; o < outer; ++o) {
    const uint8_t* block = src + static_cast<size_t>(o * dim) * row;
    for (int64_t j = 0; j < n_idx; ++j) {
      int64_t k = static_cast<int64_t>(idx[j]);
      if (k < 0) k += dim;
      std::memcpy(dst, block + static_cast<size_t>(k) * row, row);
      dst += row;
    }
  }
  return Status::ok();
}

}  // namespace

Status gather(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef& idx = *ctx.in(1);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  if (idx.dtype == DType::Int64) return gather_impl(ctx, x, idx.as<const int64_t>(), idx.numel(), *y);
  if (idx.dtype == DType::Int32) return gather_impl(ctx, x, idx.as<const int32_t>(), idx.numel(), *y);
  return ctx.error("indices must be int32 or int64, not %s", dtype_name(idx.dtype));
}

}  // namespace tern::ref
