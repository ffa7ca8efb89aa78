// Concat along one axis, any dtype: seen as [outer, axis * inner] blocks, each output row is the
// inputs' rows laid end to end, so the copy is one memcpy per input per outer index.
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

Status concat(const KernelContext& ctx) {
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const int axis = ctx.opts<fb::AxisOptionsT>().axis;
  const size_t e = dtype_size(y->dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= y->shape[i];
  for (int i = axis + 1; i < y->shape.rank; ++i) inner *= y->shape[i];
  const size_t out_row = static_cast<size_t>(y->shape[axis] * inner) * e;
  uint8_t* dst = y->as<uint8_t>();
  size_t col = 0;  // byte offset of the current input inside an output row
  for (const TensorRef* x : ctx.inputs) {
    const size_t row = static_cast<size_t>(x->shape[axis] * inner) * e;
    if (row == 0) continue;
    const uint8_t* src = x->as<const uint8_t>();
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o) * out_row + col, src + static_cast<size_t>(o) * row, row);
    col += row;
  }
  return Status::ok();
}

}  // namespace tern::ref
