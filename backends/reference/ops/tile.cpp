// Tile, any dtype. The output, viewed with two dims per input axis as [r0, d0, r1, d1, ...]
// (repeat count, input size), is a strided copy of the input with source stride 0 on every repeat
// dim; strided_copy then copies whole input rows with memcpy.
#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

Status tile(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const auto& reps = ctx.opts<fb::ShapeListOptionsT>().values;
  const int r = x.shape.rank;
  const int64_t e = static_cast<int64_t>(dtype_size(x.dtype));
  int64_t in_strides[kMaxRank], out_strides[kMaxRank];
  row_major_strides(x.shape, in_strides);
  row_major_strides(y->shape, out_strides);
  int64_t dims[kMaxCopyRank], ds[kMaxCopyRank], ss[kMaxCopyRank];
  for (int i = 0; i < r; ++i) {
    dims[2 * i] = reps[static_cast<size_t>(i)];
    ds[2 * i] = x.shape[i] * out_strides[i] * e;
    ss[2 * i] = 0;
    dims[2 * i + 1] = x.shape[i];
    ds[2 * i + 1] = out_strides[i] * e;
    ss[2 * i + 1] = in_strides[i] * e;
  }
  strided_copy(2 * r, dims, y->as<uint8_t>(), ds, x.as<const uint8_t>(), ss, static_cast<size_t>(e));
  return Status::ok();
}

}  // namespace tern::ref
