// Shape inference: the custom ops of the `tern` domain (semantics: shared/spec/tern_ops.py).
#include "ops/op_defs.h"

namespace tern::ops {

namespace {

Status expect(const InferContext& c, size_t i, const char* what, const Shape& want) {
  const TensorInfo* t = c.in(i);
  if (!t) return Status::ok();
  if (t->dtype != DType::Float32) return c.unsupported("%s is %s; the op takes float32", what, dtype_name(t->dtype));
  if (t->shape != want)
    return c.error("%s has shape %s; expected %s", what, t->shape.str().c_str(), want.str().c_str());
  return Status::ok();
}

}  // namespace

// inputs u [b,L,d], delta [b,L,d], A [d,n], B [b,L,n], C [b,L,n], D [d]?, z [b,L,d]?,
//        delta_bias [d]?, h0 [b,d,n]?   outputs y [b,L,d], hT [b,d,n]?
Status infer_selective_scan(const InferContext& c) {
  const TensorInfo& u = *c.in(0);
  const TensorInfo& a = *c.in(2);
  if (u.shape.rank != 3) return c.error("u has shape %s; expected [batch, seq, channels]", u.shape.str().c_str());
  if (a.shape.rank != 2) return c.error("A has shape %s; expected [channels, state]", a.shape.str().c_str());
  int64_t b = u.shape[0], L = u.shape[1], d = u.shape[2], n = a.shape[1];
  TERN_RETURN_IF_ERROR(expect(c, 0, "u", u.shape));
  TERN_RETURN_IF_ERROR(expect(c, 1, "delta", Shape{b, L, d}));
  TERN_RETURN_IF_ERROR(expect(c, 2, "A", Shape{d, n}));
  TERN_RETURN_IF_ERROR(expect(c, 3, "B", Shape{b, L, n}));
  TERN_RETURN_IF_ERROR(expect(c, 4, "C", Shape{b, L, n}));
  TERN_RETURN_IF_ERROR(expect(c, 5, "D", Shape{d}));
  TERN_RETURN_IF_ERROR(expect(c, 6, "z", Shape{b, L, d}));
  TERN_RETURN_IF_ERROR(expect(c, 7, "delta_bias", Shape{d}));
  TERN_RETURN_IF_ERROR(expect(c, 8, "h0", Shape{b, d, n}));
  c.outputs[0] = {DType::Float32, u.shape, nullptr};
  if (c.outputs.size() > 1) c.outputs[1] = {DType::Float32, Shape{b, d, n}, nullptr};
  return Status::ok();
}

// inputs u [b,L,c], A [n,n], B [n], m0 [b,c,n]?   outputs m [b,L,c,n], mT [b,c,n]?
Status infer_lmu(const InferContext& c) {
  const TensorInfo& u = *c.in(0);
  const TensorInfo& a = *c.in(1);
  if (u.shape.rank != 3) return c.error("u has shape %s; expected [batch, seq, channels]", u.shape.str().c_str());
  if (a.shape.rank != 2 || a.shape[0] != a.shape[1])
    return c.error("A has shape %s; expected a square [order, order] matrix", a.shape.str().c_str());
  int64_t b = u.shape[0], L = u.shape[1], ch = u.shape[2], n = a.shape[0];
  TERN_RETURN_IF_ERROR(expect(c, 0, "u", u.shape));
  TERN_RETURN_IF_ERROR(expect(c, 1, "A", Shape{n, n}));
  TERN_RETURN_IF_ERROR(expect(c, 2, "B", Shape{n}));
  TERN_RETURN_IF_ERROR(expect(c, 3, "m0", Shape{b, ch, n}));
  c.outputs[0] = {DType::Float32, Shape{b, L, ch, n}, nullptr};
  if (c.outputs.size() > 1) c.outputs[1] = {DType::Float32, Shape{b, ch, n}, nullptr};
  return Status::ok();
}

// inputs x (rank >= 2), v0 (x's shape without time_axis)?   outputs s (x's shape), vT (v0's shape)?
Status infer_lif(const InferContext& c) {
  const auto* o = c.opts<fb::LIFOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 2) return c.error("x has shape %s; expected rank >= 2 with a time axis", x.shape.str().c_str());
  if (o->time_axis < 0 || o->time_axis >= x.shape.rank)
    return c.error("time_axis %d is outside x %s", o->time_axis, x.shape.str().c_str());
  if (!(o->tau > 0)) return c.error("tau must be positive, not %g", static_cast<double>(o->tau));
  Shape state;
  for (int i = 0; i < x.shape.rank; ++i)
    if (i != o->time_axis) state.dims[state.rank++] = x.shape[i];
  TERN_RETURN_IF_ERROR(expect(c, 0, "x", x.shape));
  TERN_RETURN_IF_ERROR(expect(c, 1, "v0", state));
  c.outputs[0] = {DType::Float32, x.shape, nullptr};
  if (c.outputs.size() > 1) c.outputs[1] = {DType::Float32, state, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
