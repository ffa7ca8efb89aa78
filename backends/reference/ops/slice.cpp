// Slice, any dtype, positive and negative steps: a strided copy from the first selected element
// with source stride step * input stride on each axis (negative for reversed axes). Bounds arrive
// clamped by the compiler and checked by shape inference; the kernel still checks the first and
// last index of every axis, because reading outside X must be impossible whatever the plan holds.
#include "reference/kernel.h"
#include "reference/ops/data_util.h"

namespace tern::ref {

Status slice(const KernelContext& ctx) {
  const TensorRef& x = *ctx.in(0);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const auto& o = ctx.opts<fb::SliceOptionsT>();
  const int r = x.shape.rank;
  const int64_t e = static_cast<int64_t>(dtype_size(x.dtype));
  int64_t in_strides[kMaxRank], start[kMaxRank], step[kMaxRank], ds[kMaxRank], ss[kMaxRank];
  row_major_strides(x.shape, in_strides);
  for (int a = 0; a < r; ++a) {
    start[a] = 0;
    step[a] = 1;
  }
  for (size_t i = 0; i < o.axes.size(); ++i) {
    start[o.axes[i]] = o.starts[i];
    step[o.axes[i]] = o.steps[i];
  }
  int64_t base = 0, s = e;
  for (int a = r - 1; a >= 0; --a) {
    int64_t last = start[a] + (y->shape[a] - 1) * step[a];
    if (start[a] < 0 || start[a] >= x.shape[a] || last < 0 || last >= x.shape[a])
      return ctx.error("slice of axis %d (start %lld, step %lld, %lld elements) leaves X %s", a,
                       static_cast<long long>(start[a]), static_cast<long long>(step[a]),
                       static_cast<long long>(y->shape[a]), x.shape.str().c_str());
    base += start[a] * in_strides[a] * e;
    ss[a] = step[a] * in_strides[a] * e;
    ds[a] = s;
    s *= y->shape[a];
  }
  strided_copy(r, y->shape.dims, y->as<uint8_t>(), ds, x.as<const uint8_t>() + base, ss, static_cast<size_t>(e));
  return Status::ok();
}

}  // namespace tern::ref
