// Transpose for any dtype and rank: a strided copy whose source strides are the input's strides
// permuted. strided_copy drops size-1 dims, merges output dims that stay adjacent in the input
// (so e.g. a rank-6 MobileViT permute usually becomes a rank-3 or rank-4 one), copies contiguous
// inner runs with memcpy and tiles the rest.
#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

Status transpose(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const auto& perm = ctx.opts<fb::TransposeOptionsT>().perm;
  const int r = x.shape.rank;
  const int64_t e = static_cast<int64_t>(dtype_size(x.dtype));
  int64_t in_strides[kMaxRank], ds[kMaxRank], ss[kMaxRank], dims[kMaxRank];
  row_major_strides(x.shape, in_strides);
  int64_t s = e;
  for (int i = r - 1; i >= 0; --i) {
    int p = perm[static_cast<size_t>(i)];
    dims[i] = x.shape[p];
    ss[i] = in_strides[p] * e;
    ds[i] = s;
    s *= dims[i];
  }
  strided_copy(r, dims, y->as<uint8_t>(), ds, x.as<const uint8_t>(), ss, static_cast<size_t>(e));
  return Status::ok();
}

}  // namespace tern::ref
