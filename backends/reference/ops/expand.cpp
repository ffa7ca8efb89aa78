// Expand, any dtype: a strided copy whose source strides are 0 on broadcast axes.
#include "reference/kernel.h"
#include "reference/ops/data_util.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status expand(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const int64_t e = static_cast<int64_t>(dtype_size(x.dtype));
  int64_t ss[kMaxRank], ds[kMaxRank];
  broadcast_strides(x.shape, y->shape, ss);
  row_major_strides(y->shape, ds);
  for (int i = 0; i < y->shape.rank; ++i) {
    ss[i] *= e;
    ds[i] *= e;
  }
  strided_copy(y->shape.rank, y->shape.dims, y->as<uint8_t>(), ds, x.as<const uint8_t>(), ss, static_cast<size_t>(e));
  return Status::ok();
}

}  // namespace tern::ref
