// Split along one axis, any dtype: the inverse of Concat, one memcpy per output per outer index.
// Outputs the graph does not use (nullptr) are skipped.
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

Status split(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  if (x.numel() == 0) return Status::ok();
  const int axis = ctx.opts<fb::SplitOptionsT>().axis;
  const size_t e = dtype_size(x.dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const size_t in_row = static_cast<size_t>(x.shape[axis] * inner) * e;
  const uint8_t* src = x.as<const uint8_t>();
  size_t col = 0;  // byte offset of the current output inside an input row
  const auto& sizes = ctx.opts<fb::SplitOptionsT>().split;
  for (size_t i = 0; i < ctx.outputs.size() && i < sizes.size(); ++i) {
    // An unused output still occupies its part of the axis, so its size comes from the options.
    const TensorRef* y = ctx.outputs[i];
    const size_t row = static_cast<size_t>(sizes[i] * inner) * e;
    if (y && row) {
      uint8_t* dst = y->as<uint8_t>();
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + static_cast<size_t>(o) * row, src + static_cast<size_t>(o) * in_row + col, row);
    }
    col += row;
  }
  return Status::ok();
}

}  // namespace tern::ref
