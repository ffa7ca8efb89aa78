// ConstantOfShape: the output filled with FillOptions.value converted to its dtype (integers
// truncate, bool is value != 0, float16 rounds to nearest even).
#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

Status constant_of_shape(const KernelContext& ctx) {
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  uint8_t value[8] = {};
  if (!encode_scalar(ctx.opts<fb::FillOptionsT>().value, y->dtype, value))
    return ctx.unsupported("dtype %s", dtype_name(y->dtype));
  fill_elements(y->as<uint8_t>(), y->numel(), value, dtype_size(y->dtype));
  return Status::ok();
}

}  // namespace tern::ref
