// Shape inference: elementwise ops, Where, Cast, Softmax, reductions.
#include "ops/op_defs.h"

namespace tern::ops {

namespace {

bool is_numeric(DType t) { return t != DType::Bool; }

bool float_only_unary(OpType op) {
  switch (op) {
    case OpType::Relu: case OpType::Neg: case OpType::Abs: case OpType::Sign: case OpType::Clip:
    case OpType::Not:
      return false;
    default:
      return true;
  }
}

}  // namespace

Status infer_binary(const InferContext& c) {
  const TensorInfo& a = *c.in(0);
  const TensorInfo& b = *c.in(1);
  Shape out;
  if (!broadcast_shapes(a.shape, b.shape, &out))
    return c.error("shapes %s and %s do not broadcast", a.shape.str().c_str(), b.shape.str().c_str());
  if (c.op != OpType::Pow && a.dtype != b.dtype)
    return c.error("inputs have different dtypes (%s and %s)", dtype_name(a.dtype), dtype_name(b.dtype));
  bool logical = c.op == OpType::And || c.op == OpType::Or;
  if (logical && a.dtype != DType::Bool) return c.error("inputs must be bool, not %s", dtype_name(a.dtype));
  if (!logical && !is_numeric(a.dtype)) return c.error("inputs must be numeric, not bool");
  if (c.op == OpType::Pow && !is_numeric(b.dtype)) return c.error("the exponent must be numeric");
  DType out_t = (is_comparison(c.op) || logical) ? DType::Bool : a.dtype;
  c.outputs[0] = {out_t, out, nullptr};
  return Status::ok();
}

Status infer_prelu(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const TensorInfo& slope = *c.in(1);
  Shape out;
  if (!broadcast_shapes(x.shape, slope.shape, &out) || out != x.shape)
    return c.error("slope %s does not broadcast to X %s", slope.shape.str().c_str(), x.shape.str().c_str());
  if (!dtype_is_float(x.dtype) || slope.dtype != x.dtype) return c.unsupported("PRelu takes float X and slope");
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_unary(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (c.op == OpType::Not) {
    if (x.dtype != DType::Bool) return c.error("input must be bool, not %s", dtype_name(x.dtype));
  } else if (x.dtype == DType::Int8 && (c.op == OpType::Sigmoid || c.op == OpType::Tanh || c.op == OpType::HardSwish ||
                                        c.op == OpType::HardSigmoid)) {
    // a quantized plan's int8 table node (reference unary_q8)
  } else if (float_only_unary(c.op) ? !dtype_is_float(x.dtype) : !is_numeric(x.dtype)) {
    return c.unsupported("input is %s; this op takes %s", dtype_name(x.dtype),
                         float_only_unary(c.op) ? "float32 or float16" : "a numeric type");
  }
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_where(const InferContext& c) {
  const TensorInfo& cond = *c.in(0);
  const TensorInfo& x = *c.in(1);
  const TensorInfo& y = *c.in(2);
  if (cond.dtype != DType::Bool) return c.error("condition must be bool, not %s", dtype_name(cond.dtype));
  if (x.dtype != y.dtype) return c.error("X is %s but Y is %s", dtype_name(x.dtype), dtype_name(y.dtype));
  Shape t, out;
  if (!broadcast_shapes(cond.shape, x.shape, &t) || !broadcast_shapes(t, y.shape, &out))
    return c.error("condition %s, X %s and Y %s do not broadcast", cond.shape.str().c_str(), x.shape.str().c_str(),
                   y.shape.str().c_str());
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_cast(const InferContext& c) {
  const auto* o = c.opts<fb::CastOptionsT>();
  if (!dtype_valid(o->to)) return c.error("target dtype %d is not supported", static_cast<int>(o->to));
  c.outputs[0] = {o->to, c.in(0)->shape, nullptr};
  return Status::ok();
}

Status infer_softmax(const InferContext& c) {
  const auto* o = c.opts<fb::AxisOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (!dtype_is_float(x.dtype)) return c.unsupported("input is %s; softmax takes float", dtype_name(x.dtype));
  if (o->axis < 0 || o->axis >= x.shape.rank) return c.error("axis %d is outside X %s", o->axis, x.shape.str().c_str());
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_reduce(const InferContext& c) {
  const auto* o = c.opts<fb::ReduceOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (!is_numeric(x.dtype)) return c.error("input must be numeric");
  bool reduce[kMaxRank] = {};
  if (o->axes.empty()) {
    for (int i = 0; i < x.shape.rank; ++i) reduce[i] = true;
  } else {
    for (int32_t a : o->axes) {
      if (a < 0 || a >= x.shape.rank) return c.error("axis %d is outside X %s", a, x.shape.str().c_str());
      if (reduce[a]) return c.error("axis %d is listed twice", a);
      reduce[a] = true;
    }
  }
  Shape out;
  for (int i = 0; i < x.shape.rank; ++i) {
    if (!reduce[i]) out.dims[out.rank++] = x.shape[i];
    else if (o->keepdims) out.dims[out.rank++] = 1;
    else if (x.shape[i] == 0 && (c.op == OpType::ReduceMax || c.op == OpType::ReduceMin))
      return c.error("cannot reduce an empty axis %d with %s", i, op_name(c.op));
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_arg(const InferContext& c) {
  const auto* o = c.opts<fb::ArgOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (o->axis < 0 || o->axis >= x.shape.rank) return c.error("axis %d is outside X %s", o->axis, x.shape.str().c_str());
  if (x.shape[o->axis] == 0) return c.error("axis %d is empty", o->axis);
  Shape out;
  for (int i = 0; i < x.shape.rank; ++i) {
    if (i != o->axis) out.dims[out.rank++] = x.shape[i];
    else if (o->keepdims) out.dims[out.rank++] = 1;
  }
  c.outputs[0] = {DType::Int64, out, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
