// Where(cond, X, Y) with three-way numpy broadcasting, any dtype of X/Y (copied by element size).
#include <cstring>

#include "reference/kernel.h"
#include "reference/ops/data_util.h"
#include "reference/ops/util.h"

namespace tern::ref {

Status where(const KernelContext& ctx) {
  const TensorRef& c = *ctx.in(0);
  const TensorRef& a = *ctx.in(1);
  const TensorRef& b = *ctx.in(2);
  const TensorRef* y = ctx.out(0);
  if (!y || y->numel() == 0) return Status::ok();
  const Shape* ins[3] = {&c.shape, &a.shape, &b.shape};
  const uint8_t* pc = c.as<const uint8_t>();
  const uint8_t* pa = a.as<const uint8_t>();
  const uint8_t* pb = b.as<const uint8_t>();
  uint8_t* py = y->as<uint8_t>();
  detail::with_elem_type(dtype_size(y->dtype), [&](auto tag) {
    using U = decltype(tag);
    constexpr int64_t e = sizeof(U);
    for_each_broadcast<3>(y->shape, ins, [&](int64_t o, int64_t i, int64_t j, int64_t k) {
      std::memcpy(py + o * e, pc[i] ? pa + j * e : pb + k * e, e);
    });
  });
  return Status::ok();
}

}  // namespace tern::ref
