// Reshape, Flatten, Squeeze, Unsqueeze, Identity: the output holds the input's bytes unchanged.
// The memory planner usually gives the output the input's storage, which makes this a no-op.
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

Status copy_reshape(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->data == x.data) return Status::ok();
  std::memmove(y->data, x.data, x.bytes());
  return Status::ok();
}

}  // namespace tern::ref
