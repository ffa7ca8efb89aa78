// Shape inference: data movement and shape ops.
#include <cmath>

#include "ops/op_defs.h"

namespace tern::ops {

namespace {

Status set_same_bytes_shape(const InferContext& c, const Shape& out) {
  const TensorInfo& x = *c.in(0);
  if (out.numel() != x.shape.numel())
    return c.error("cannot view X %s (%lld elements) as %s (%lld elements)", x.shape.str().c_str(),
                   static_cast<long long>(x.shape.numel()), out.str().c_str(), static_cast<long long>(out.numel()));
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

bool is_index_type(DType t) { return t == DType::Int32 || t == DType::Int64; }

// Reads element i of a constant integer or float scalar tensor as double.
double scalar_value(const TensorInfo& t) {
  switch (t.dtype) {
    case DType::Float32: return static_cast<const float*>(t.const_data)[0];
    case DType::Int32: return static_cast<const int32_t*>(t.const_data)[0];
    case DType::Int64: return static_cast<double>(static_cast<const int64_t*>(t.const_data)[0]);
    case DType::Int16: return static_cast<const int16_t*>(t.const_data)[0];
    case DType::Int8: return static_cast<const int8_t*>(t.const_data)[0];
    case DType::UInt8: return static_cast<const uint8_t*>(t.const_data)[0];
    default: return 0;
  }
}

}  // namespace

Status infer_reshape(const InferContext& c) {
  const auto& v = c.opts<fb::ReshapeOptionsT>()->shape;
  if (v.size() > static_cast<size_t>(kMaxRank)) return c.unsupported("target rank %zu exceeds %d", v.size(), kMaxRank);
  for (int64_t d : v)
    if (d < 0) return c.error("target shape has an unresolved dimension %lld", static_cast<long long>(d));
  return set_same_bytes_shape(c, Shape::from(v));
}

Status infer_flatten(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  int axis = c.opts<fb::AxisOptionsT>()->axis;
  if (axis < 0 || axis > x.shape.rank) return c.error("axis %d is outside 0..%d", axis, x.shape.rank);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < x.shape.rank; ++i) (i < axis ? outer : inner) *= x.shape[i];
  return set_same_bytes_shape(c, Shape{outer, inner});
}

Status infer_squeeze(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const auto& axes = c.opts<fb::AxesOptionsT>()->axes;
  bool drop[kMaxRank] = {};
  if (axes.empty()) {
    for (int i = 0; i < x.shape.rank; ++i) drop[i] = x.shape[i] == 1;
  }
  for (int32_t a : axes) {
    if (a < 0 || a >= x.shape.rank) return c.error("axis %d is outside X %s", a, x.shape.str().c_str());
    if (x.shape[a] != 1) return c.error("cannot squeeze axis %d of X %s: its size is not 1", a, x.shape.str().c_str());
    drop[a] = true;
  }
  Shape out;
  for (int i = 0; i < x.shape.rank; ++i)
    if (!drop[i]) out.dims[out.rank++] = x.shape[i];
  return set_same_bytes_shape(c, out);
}

Status infer_unsqueeze(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const auto& axes = c.opts<fb::AxesOptionsT>()->axes;
  int rank = x.shape.rank + static_cast<int>(axes.size());
  if (rank > kMaxRank) return c.unsupported("result rank %d exceeds %d", rank, kMaxRank);
  bool insert[kMaxRank] = {};
  for (int32_t a : axes) {
    if (a < 0 || a >= rank) return c.error("axis %d is outside the output rank %d", a, rank);
    if (insert[a]) return c.error("axis %d is listed twice", a);
    insert[a] = true;
  }
  Shape out;
  out.rank = rank;
  for (int i = 0, j = 0; i < rank; ++i) out[i] = insert[i] ? 1 : x.shape[j++];
  return set_same_bytes_shape(c, out);
}

Status infer_identity(const InferContext& c) {
  c.outputs[0] = {c.in(0)->dtype, c.in(0)->shape, nullptr};
  return Status::ok();
}

Status infer_transpose(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const auto& perm = c.opts<fb::TransposeOptionsT>()->perm;
  if (static_cast<int>(perm.size()) != x.shape.rank)
    return c.error("perm has %zu entries but X %s has rank %d", perm.size(), x.shape.str().c_str(), x.shape.rank);
  bool seen[kMaxRank] = {};
  Shape out;
  out.rank = x.shape.rank;
  for (int i = 0; i < out.rank; ++i) {
    int p = perm[static_cast<size_t>(i)];
    if (p < 0 || p >= x.shape.rank || seen[p]) return c.error("perm is not a permutation of 0..%d", x.shape.rank - 1);
    seen[p] = true;
    out[i] = x.shape[p];
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_concat(const InferContext& c) {
  const TensorInfo& x0 = *c.in(0);
  int axis = c.opts<fb::AxisOptionsT>()->axis;
  if (axis < 0 || axis >= x0.shape.rank) return c.error("axis %d is outside input 0 %s", axis, x0.shape.str().c_str());
  Shape out = x0.shape;
  out[axis] = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const TensorInfo& t = *c.inputs[i];
    if (t.dtype != x0.dtype) return c.error("input %zu is %s but input 0 is %s", i, dtype_name(t.dtype), dtype_name(x0.dtype));
    if (t.shape.rank != x0.shape.rank) return c.error("input %zu %s and input 0 %s differ in rank", i, t.shape.str().c_str(), x0.shape.str().c_str());
    for (int d = 0; d < out.rank; ++d)
      if (d != axis && t.shape[d] != x0.shape[d])
        return c.error("input %zu %s and input 0 %s differ outside axis %d", i, t.shape.str().c_str(),
                       x0.shape.str().c_str(), axis);
    out[axis] += t.shape[axis];
  }
  c.outputs[0] = {x0.dtype, out, nullptr};
  return Status::ok();
}

Status infer_split(const InferContext& c) {
  const auto* o = c.opts<fb::SplitOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (o->axis < 0 || o->axis >= x.shape.rank) return c.error("axis %d is outside X %s", o->axis, x.shape.str().c_str());
  if (o->split.size() != c.outputs.size())
    return c.error("split has %zu sizes for %zu outputs", o->split.size(), c.outputs.size());
  int64_t total = 0;
  for (size_t i = 0; i < o->split.size(); ++i) {
    if (o->split[i] < 0) return c.error("split size %zu is negative", i);
    total += o->split[i];
    Shape s = x.shape;
    s[o->axis] = o->split[i];
    c.outputs[i] = {x.dtype, s, nullptr};
  }
  if (total != x.shape[o->axis])
    return c.error("split sizes add up to %lld but axis %d of X %s has %lld", static_cast<long long>(total), o->axis,
                   x.shape.str().c_str(), static_cast<long long>(x.shape[o->axis]));
  return Status::ok();
}

Status infer_slice(const InferContext& c) {
  const auto* o = c.opts<fb::SliceOptionsT>();
  const TensorInfo& x = *c.in(0);
  size_t n = o->axes.size();
  if (o->starts.size() != n || o->ends.size() != n || o->steps.size() != n)
    return c.error("starts, ends, axes and steps must have the same length");
  Shape out = x.shape;
  bool seen[kMaxRank] = {};
  for (size_t i = 0; i < n; ++i) {
    int a = o->axes[i];
    if (a < 0 || a >= x.shape.rank || seen[a]) return c.error("axis %d is invalid or repeated for X %s", a, x.shape.str().c_str());
    seen[a] = true;
    int64_t dim = x.shape[a], st = o->starts[i], en = o->ends[i], step = o->steps[i];
    if (step == 0) return c.error("step on axis %d is 0", a);
    // the compiler stores clamped bounds: [0, dim] for positive steps, [-1, dim-1] for negative
    int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? dim : dim - 1;
    if (st < lo || st > hi || en < lo || en > hi)
      return c.error("bounds [%lld, %lld) on axis %d are not clamped to X %s", static_cast<long long>(st),
                     static_cast<long long>(en), a, x.shape.str().c_str());
    int64_t len = step > 0 ? (en - st + step - 1) / step : (st - en + (-step) - 1) / (-step);
    out[a] = len > 0 ? len : 0;
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_gather(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const TensorInfo& idx = *c.in(1);
  int axis = c.opts<fb::AxisOptionsT>()->axis;
  if (axis < 0 || axis >= x.shape.rank) return c.error("axis %d is outside data %s", axis, x.shape.str().c_str());
  if (!is_index_type(idx.dtype)) return c.error("indices must be int32 or int64, not %s", dtype_name(idx.dtype));
  int rank = x.shape.rank - 1 + idx.shape.rank;
  if (rank > kMaxRank) return c.unsupported("result rank %d exceeds %d", rank, kMaxRank);
  Shape out;
  for (int i = 0; i < axis; ++i) out.dims[out.rank++] = x.shape[i];
  for (int i = 0; i < idx.shape.rank; ++i) out.dims[out.rank++] = idx.shape[i];
  for (int i = axis + 1; i < x.shape.rank; ++i) out.dims[out.rank++] = x.shape[i];
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_expand(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const auto& v = c.opts<fb::ShapeListOptionsT>()->values;
  if (v.size() > static_cast<size_t>(kMaxRank)) return c.unsupported("target rank exceeds %d", kMaxRank);
  for (int64_t d : v)
    if (d < 0) return c.error("target shape has a negative dimension");
  Shape out;
  if (!broadcast_shapes(x.shape, Shape::from(v), &out))
    return c.error("X %s does not broadcast to %s", x.shape.str().c_str(), Shape::from(v).str().c_str());
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_tile(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  const auto& r = c.opts<fb::ShapeListOptionsT>()->values;
  if (static_cast<int>(r.size()) != x.shape.rank)
    return c.error("repeats has %zu entries for X %s", r.size(), x.shape.str().c_str());
  Shape out = x.shape;
  for (int i = 0; i < out.rank; ++i) {
    if (r[static_cast<size_t>(i)] < 0) return c.error("repeats[%d] is negative", i);
    out[i] *= r[static_cast<size_t>(i)];
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_pad(const InferContext& c) {
  const auto* o = c.opts<fb::PadOptionsT>();
  const TensorInfo& x = *c.in(0);
  int r = x.shape.rank;
  if (static_cast<int>(o->pads.size()) != 2 * r) return c.error("pads has %zu entries; X %s needs %d", o->pads.size(), x.shape.str().c_str(), 2 * r);
  Shape out = x.shape;
  for (int i = 0; i < r; ++i) {
    int64_t b = o->pads[static_cast<size_t>(i)], e = o->pads[static_cast<size_t>(i + r)];
    out[i] = x.shape[i] + b + e;
    if (out[i] < 0) return c.error("pads remove more than axis %d of X %s holds", i, x.shape.str().c_str());
    if (o->mode != fb::PadMode::Constant && (b < 0 || e < 0))
      return c.unsupported("negative pads are only supported in constant mode");
    // Reflect pads as wide as the axis or wider are fine: they reflect again (numpy.pad, and the
    // ONNX operator's own example pads a size-2 axis by 2).
    if (o->mode != fb::PadMode::Constant && x.shape[i] == 0 && (b || e))
      return c.error("cannot pad the empty axis %d in %s mode", i, fb::EnumNamePadMode(o->mode));
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_resize(const InferContext& c) {
  const auto* o = c.opts<fb::ResizeOptionsT>();
  const TensorInfo& x = *c.in(0);
  int r = x.shape.rank;
  if (static_cast<int>(o->scales.size()) != r || static_cast<int>(o->sizes.size()) != r)
    return c.error("scales and sizes must have one entry per axis of X %s", x.shape.str().c_str());
  if (o->mode == fb::ResizeMode::Cubic) return c.unsupported("cubic interpolation is not supported");
  if (!dtype_is_float(x.dtype)) return c.unsupported("X is %s; Resize takes float", dtype_name(x.dtype));
  Shape out = x.shape;
  for (int i = 0; i < r; ++i) {
    if (o->sizes[static_cast<size_t>(i)] < 0 || !(o->scales[static_cast<size_t>(i)] > 0))
      return c.error("axis %d has size %lld and scale %g", i, static_cast<long long>(o->sizes[static_cast<size_t>(i)]),
                     static_cast<double>(o->scales[static_cast<size_t>(i)]));
    out[i] = o->sizes[static_cast<size_t>(i)];
    if (out[i] > 0 && x.shape[i] == 0) return c.error("cannot resize the empty axis %d", i);
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_constant_of_shape(const InferContext& c) {
  const auto* o = c.opts<fb::FillOptionsT>();
  if (o->shape.size() > static_cast<size_t>(kMaxRank)) return c.unsupported("rank exceeds %d", kMaxRank);
  for (int64_t d : o->shape)
    if (d < 0) return c.error("shape has a negative dimension");
  if (!dtype_valid(o->dtype)) return c.error("invalid dtype");
  c.outputs[0] = {o->dtype, Shape::from(o->shape), nullptr};
  return Status::ok();
}

Status infer_shape(const InferContext& c) {
  const auto* o = c.opts<fb::ShapeOptionsT>();
  int r = c.in(0)->shape.rank;
  if (o->start < 0 || o->end > r || o->start > o->end)
    return c.error("start %d and end %d are not clamped to rank %d", o->start, o->end, r);
  c.outputs[0] = {DType::Int64, Shape{o->end - o->start}, nullptr};
  return Status::ok();
}

Status infer_range(const InferContext& c) {
  for (int i = 0; i < 3; ++i) {
    const TensorInfo& t = *c.in(static_cast<size_t>(i));
    if (t.shape.numel() != 1 || t.shape.rank > 1) return c.error("input %d must be a scalar, not %s", i, t.shape.str().c_str());
    if (t.dtype != c.in(0)->dtype) return c.error("inputs differ in dtype");
    if (!t.const_data) return c.unsupported("Range needs constant start, limit and delta (dynamic lengths are not supported)");
  }
  double start = scalar_value(*c.in(0)), limit = scalar_value(*c.in(1)), delta = scalar_value(*c.in(2));
  if (delta == 0) return c.error("delta is 0");
  double n = std::ceil((limit - start) / delta);
  if (!(n < 1e12)) return c.error("the range is too long");
  c.outputs[0] = {c.in(0)->dtype, Shape{n > 0 ? static_cast<int64_t>(n) : 0}, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
