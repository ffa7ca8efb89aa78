// Shape: the input's dims [start, end) as int64 (bounds already clamped by the compiler).
#include "reference/kernel.h"

namespace tern::ref {

Status shape(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const auto& o = ctx.opts<fb::ShapeOptionsT>();
  int64_t* out = y->as<int64_t>();
  int64_t n = y->numel();
  for (int64_t i = 0; i < n && o.start + i < x.shape.rank; ++i) out[i] = x.shape[static_cast<int>(o.start + i)];
  return Status::ok();
}

}  // namespace tern::ref
