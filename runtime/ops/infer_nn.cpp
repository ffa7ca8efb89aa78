// Shape inference: convolution, linear algebra, normalization, pooling.
#include <algorithm>

#include "ops/op_defs.h"

namespace tern::ops {

namespace {

Status check_window(const InferContext& c, int spatial, const std::vector<int32_t>& kernel,
                    const std::vector<int32_t>& strides, const std::vector<int32_t>& dilations,
                    const std::vector<int32_t>& pads) {
  if (static_cast<int>(kernel.size()) != spatial || static_cast<int>(strides.size()) != spatial ||
      static_cast<int>(dilations.size()) != spatial || static_cast<int>(pads.size()) != 2 * spatial)
    return c.error("kernel_shape/strides/dilations must have %d entries and pads %d (input has %d spatial dims)",
                   spatial, 2 * spatial, spatial);
  for (int i = 0; i < spatial; ++i) {
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
      return c.error("kernel_shape, strides and dilations must be >= 1 (axis %d: %d, %d, %d)", i, kernel[i],
                     strides[i], dilations[i]);
    if (pads[i] < 0 || pads[i + spatial] < 0) return c.error("pads must be >= 0 (axis %d)", i);
  }
  return Status::ok();
}

int64_t window_out(int64_t in, int64_t pad_total, int64_t k, int64_t stride, int64_t dil, bool ceil_mode) {
  int64_t span = dil * (k - 1) + 1;
  int64_t num = in + pad_total - span;
  if (num < 0) return -1;
  return (ceil_mode ? (num + stride - 1) / stride : num / stride) + 1;
}

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float16; }

// Shape [N, C, s...] <-> [N, s..., C] (channels_last Conv and pools, set by the layout pass).
Shape to_channels_first(const Shape& s) {
  Shape r = s;
  r[1] = s[s.rank - 1];
  for (int i = 2; i < s.rank; ++i) r[i] = s[i - 1];
  return r;
}
Shape to_channels_last(const Shape& s) {
  Shape r = s;
  for (int i = 1; i < s.rank - 1; ++i) r[i] = s[i + 1];
  r[s.rank - 1] = s[1];
  return r;
}

// Infers a channels_last node with the channels-first rules: X is viewed as [N, C, s...] and Y
// turned back to channels-last. `nchw` must not look at channels_last itself.
Status infer_channels_last(const InferContext& c, Status (*nchw)(const InferContext&)) {
  const TensorInfo* x0 = c.in(0);
  if (!x0 || x0->shape.rank < 3) return c.error("a channels_last input must be [N, spatial..., C]");
  TensorInfo x = *x0;
  x.shape = to_channels_first(x.shape);
  const TensorInfo* ins[8] = {};
  const size_t n = std::min<size_t>(c.inputs.size(), 8);
  for (size_t i = 0; i < n; ++i) ins[i] = c.inputs[i];
  ins[0] = &x;
  InferContext cf = c;
  cf.inputs = std::span<const TensorInfo* const>(ins, n);
  TERN_RETURN_IF_ERROR(nchw(cf));
  if (!c.outputs.empty()) c.outputs[0].shape = to_channels_last(c.outputs[0].shape);
  return Status::ok();
}
bool is_quant8(DType t) { return t == DType::Int8 || t == DType::UInt8; }

}  // namespace

Status infer_conv_nchw(const InferContext& c);

Status infer_conv(const InferContext& c) {
  if (c.opts<fb::ConvOptionsT>()->channels_last) return infer_channels_last(c, infer_conv_nchw);
  return infer_conv_nchw(c);
}

Status infer_conv_nchw(const InferContext& c) {
  const auto* o = c.opts<fb::ConvOptionsT>();
  const TensorInfo& x = *c.in(0);
  const TensorInfo& w = *c.in(1);
  if (x.shape.rank < 3 || x.shape.rank > 5)
    return c.error("input X has shape %s; Conv takes [N, C, spatial...] with 1 to 3 spatial dims",
                   x.shape.str().c_str());
  if (w.shape.rank != x.shape.rank)
    return c.error("weight W has shape %s; expected rank %d like X %s", w.shape.str().c_str(), x.shape.rank,
                   x.shape.str().c_str());
  int spatial = x.shape.rank - 2;
  TERN_RETURN_IF_ERROR(check_window(c, spatial, o->kernel_shape, o->strides, o->dilations, o->pads));
  int64_t group = o->group;
  int64_t cin = x.shape[1], cout = w.shape[0];
  if (group < 1 || cin % group != 0 || cout % group != 0 || w.shape[1] * group != cin)
    return c.error("X %s and W %s do not agree with group=%lld (need C == W[1] * group, M %% group == 0)",
                   x.shape.str().c_str(), w.shape.str().c_str(), static_cast<long long>(group));
  for (int i = 0; i < spatial; ++i)
    if (w.shape[2 + i] != o->kernel_shape[i])
      return c.error("kernel_shape[%d] = %d but W %s", i, o->kernel_shape[i], w.shape.str().c_str());
  if (is_float(x.dtype)) {
    if (w.dtype != x.dtype) return c.error("W is %s but X is %s", dtype_name(w.dtype), dtype_name(x.dtype));
  } else if (!is_quant8(x.dtype) || !is_quant8(w.dtype)) {
    return c.unsupported("X is %s and W %s; Conv takes float32/float16, or int8/uint8 quantized",
                         dtype_name(x.dtype), dtype_name(w.dtype));
  }
  if (const TensorInfo* b = c.in(2)) {
    if (b->shape.rank != 1 || b->shape[0] != cout)
      return c.error("bias B has shape %s; expected [%lld]", b->shape.str().c_str(), static_cast<long long>(cout));
  }
  Shape out;
  out.rank = x.shape.rank;
  out[0] = x.shape[0];
  out[1] = cout;
  for (int i = 0; i < spatial; ++i) {
    int64_t v = window_out(x.shape[2 + i], o->pads[i] + o->pads[i + spatial], o->kernel_shape[i], o->strides[i],
                           o->dilations[i], false);
    if (v < 1)
      return c.error("the dilated kernel (%d, dilation %d) is larger than the padded input on spatial axis %d (X %s)",
                     o->kernel_shape[i], o->dilations[i], i, x.shape.str().c_str());
    out[2 + i] = v;
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_conv_transpose(const InferContext& c) {
  const auto* o = c.opts<fb::ConvTransposeOptionsT>();
  const TensorInfo& x = *c.in(0);
  const TensorInfo& w = *c.in(1);
  if (x.shape.rank < 3 || x.shape.rank > 5 || w.shape.rank != x.shape.rank)
    return c.error("X %s and W %s: ConvTranspose takes [N, C, spatial...] with 1 to 3 spatial dims and W of the same rank",
                   x.shape.str().c_str(), w.shape.str().c_str());
  if (!is_float(x.dtype) || w.dtype != x.dtype)
    return c.unsupported("X is %s and W %s; ConvTranspose takes float32", dtype_name(x.dtype), dtype_name(w.dtype));
  int spatial = x.shape.rank - 2;
  TERN_RETURN_IF_ERROR(check_window(c, spatial, o->kernel_shape, o->strides, o->dilations, o->pads));
  if (static_cast<int>(o->output_padding.size()) != spatial)
    return c.error("output_padding must have %d entries", spatial);
  int64_t group = o->group;
  if (group < 1 || x.shape[1] != w.shape[0] || w.shape[0] % group != 0)
    return c.error("X %s and W %s do not agree with group=%lld (need C == W[0])", x.shape.str().c_str(),
                   w.shape.str().c_str(), static_cast<long long>(group));
  for (int i = 0; i < spatial; ++i)
    if (w.shape[2 + i] != o->kernel_shape[i]) return c.error("kernel_shape[%d] disagrees with W", i);
  int64_t cout = w.shape[1] * group;
  if (const TensorInfo* b = c.in(2))
    if (b->shape.rank != 1 || b->shape[0] != cout)
      return c.error("bias B has shape %s; expected [%lld]", b->shape.str().c_str(), static_cast<long long>(cout));
  Shape out;
  out.rank = x.shape.rank;
  out[0] = x.shape[0];
  out[1] = cout;
  for (int i = 0; i < spatial; ++i) {
    int64_t v = o->strides[i] * (x.shape[2 + i] - 1) + o->output_padding[i] +
                (o->kernel_shape[i] - 1) * o->dilations[i] + 1 - o->pads[i] - o->pads[i + spatial];
    if (v < 1) return c.error("output spatial size on axis %d would be %lld", i, static_cast<long long>(v));
    if (o->output_padding[i] < 0) return c.error("output_padding[%d] = %d is negative", i, o->output_padding[i]);
    out[2 + i] = v;
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_gemm(const InferContext& c) {
  const auto* o = c.opts<fb::GemmOptionsT>();
  const TensorInfo& a = *c.in(0);
  const TensorInfo& b = *c.in(1);
  if (a.shape.rank != 2 || b.shape.rank != 2)
    return c.error("A %s and B %s must both be matrices", a.shape.str().c_str(), b.shape.str().c_str());
  int64_t m = o->trans_a ? a.shape[1] : a.shape[0];
  int64_t k = o->trans_a ? a.shape[0] : a.shape[1];
  int64_t kb = o->trans_b ? b.shape[1] : b.shape[0];
  int64_t n = o->trans_b ? b.shape[0] : b.shape[1];
  if (k != kb)
    return c.error("inner dimensions differ: A %s (trans_a=%d) and B %s (trans_b=%d)", a.shape.str().c_str(),
                   o->trans_a, b.shape.str().c_str(), o->trans_b);
  if (is_float(a.dtype)) {
    if (b.dtype != a.dtype) return c.error("B is %s but A is %s", dtype_name(b.dtype), dtype_name(a.dtype));
  } else if (!is_quant8(a.dtype) || !is_quant8(b.dtype)) {
    return c.unsupported("A is %s; Gemm takes float32/float16 or quantized int8", dtype_name(a.dtype));
  }
  Shape out{m, n};
  if (const TensorInfo* cc = c.in(2)) {
    Shape bs;
    if (!broadcast_shapes(out, cc->shape, &bs) || bs != out)
      return c.error("C %s does not broadcast to the result [%lld, %lld]", cc->shape.str().c_str(),
                     static_cast<long long>(m), static_cast<long long>(n));
  }
  c.outputs[0] = {a.dtype, out, nullptr};
  return Status::ok();
}

Status infer_matmul(const InferContext& c) {
  const TensorInfo& a = *c.in(0);
  const TensorInfo& b = *c.in(1);
  if (a.shape.rank < 1 || b.shape.rank < 1)
    return c.error("A %s and B %s: MatMul needs operands of rank >= 1", a.shape.str().c_str(), b.shape.str().c_str());
  if (is_float(a.dtype)) {
    if (b.dtype != a.dtype) return c.error("B is %s but A is %s", dtype_name(b.dtype), dtype_name(a.dtype));
  } else if (!is_quant8(a.dtype) || !is_quant8(b.dtype)) {
    return c.unsupported("A is %s; MatMul takes float32/float16 or quantized int8", dtype_name(a.dtype));
  }
  // Promote 1-D operands as numpy.matmul does, then broadcast the batch dims.
  Shape sa = a.shape, sb = b.shape;
  bool a_vec = sa.rank == 1, b_vec = sb.rank == 1;
  if (a_vec) sa = Shape{1, a.shape[0]};
  if (b_vec) sb = Shape{b.shape[0], 1};
  int64_t m = sa[sa.rank - 2], k = sa[sa.rank - 1], kb = sb[sb.rank - 2], n = sb[sb.rank - 1];
  if (k != kb) return c.error("inner dimensions differ: A %s, B %s", a.shape.str().c_str(), b.shape.str().c_str());
  Shape ba, bb, batch;
  ba.rank = sa.rank - 2;
  bb.rank = sb.rank - 2;
  for (int i = 0; i < ba.rank; ++i) ba[i] = sa[i];
  for (int i = 0; i < bb.rank; ++i) bb[i] = sb[i];
  if (!broadcast_shapes(ba, bb, &batch))
    return c.error("batch dimensions of A %s and B %s do not broadcast", a.shape.str().c_str(), b.shape.str().c_str());
  Shape out = batch;
  if (out.rank + 2 > kMaxRank) return c.unsupported("result rank exceeds %d", kMaxRank);
  if (!a_vec) out.dims[out.rank++] = m;
  if (!b_vec) out.dims[out.rank++] = n;
  if (const TensorInfo* bias = c.in(2)) {
    if (bias->shape.rank != 1 || bias->shape[0] != n || b_vec)
      return c.error("bias %s must be a vector of the %lld output columns", bias->shape.str().c_str(),
                     static_cast<long long>(n));
  }
  c.outputs[0] = {a.dtype, out, nullptr};
  return Status::ok();
}

namespace {
Status check_channel_vector(const InferContext& c, int idx, const char* what, int64_t channels) {
  const TensorInfo* t = c.in(static_cast<size_t>(idx));
  if (!t) return Status::ok();
  if (t->shape.numel() != channels || t->shape.rank != 1)
    return c.error("%s has shape %s; expected [%lld]", what, t->shape.str().c_str(), static_cast<long long>(channels));
  return Status::ok();
}
}  // namespace

Status infer_batch_norm(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 2) return c.error("X %s must have a channel axis (rank >= 2)", x.shape.str().c_str());
  if (!is_float(x.dtype)) return c.unsupported("X is %s; BatchNormalization takes float", dtype_name(x.dtype));
  const char* names[] = {"", "scale", "B", "mean", "var"};
  for (int i = 1; i < 5; ++i) TERN_RETURN_IF_ERROR(check_channel_vector(c, i, names[i], x.shape[1]));
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_layer_norm(const InferContext& c) {
  const auto* o = c.opts<fb::NormOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (!is_float(x.dtype)) return c.unsupported("X is %s; LayerNormalization takes float", dtype_name(x.dtype));
  if (o->axis < 0 || o->axis >= x.shape.rank)
    return c.error("axis %d is outside X %s", o->axis, x.shape.str().c_str());
  // scale and bias have the normalized trailing shape (or broadcast to it)
  Shape inner;
  inner.rank = x.shape.rank - o->axis;
  for (int i = 0; i < inner.rank; ++i) inner[i] = x.shape[o->axis + i];
  for (int i = 1; i < 3; ++i) {
    const TensorInfo* t = c.in(static_cast<size_t>(i));
    if (!t) continue;
    Shape bs;
    if (t->shape.rank > inner.rank || !broadcast_shapes(inner, t->shape, &bs) || bs != inner)
      return c.error("%s %s does not broadcast to the normalized shape %s", i == 1 ? "scale" : "B",
                     t->shape.str().c_str(), inner.str().c_str());
  }
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  // Optional Mean and InvStdDev: X's shape with the normalized axes reduced to 1, in float32
  // (ONNX's default stash_type).
  Shape stat = x.shape;
  for (int i = o->axis; i < stat.rank; ++i) stat[i] = 1;
  for (size_t i = 1; i < c.outputs.size(); ++i) c.outputs[i] = {DType::Float32, stat, nullptr};
  return Status::ok();
}

Status infer_group_norm_nchw(const InferContext& c);
Status infer_instance_norm_nchw(const InferContext& c);

Status infer_group_norm(const InferContext& c) {
  if (c.opts<fb::NormOptionsT>()->channels_last) return infer_channels_last(c, infer_group_norm_nchw);
  return infer_group_norm_nchw(c);
}

Status infer_instance_norm(const InferContext& c) {
  if (c.opts<fb::NormOptionsT>()->channels_last) return infer_channels_last(c, infer_instance_norm_nchw);
  return infer_instance_norm_nchw(c);
}

Status infer_group_norm_nchw(const InferContext& c) {
  const auto* o = c.opts<fb::NormOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 3) return c.error("X %s must be [N, C, spatial...]", x.shape.str().c_str());
  if (!is_float(x.dtype)) return c.unsupported("X is %s; GroupNormalization takes float", dtype_name(x.dtype));
  if (o->num_groups < 1 || x.shape[1] % o->num_groups != 0)
    return c.error("num_groups %d does not divide the %lld channels", o->num_groups, static_cast<long long>(x.shape[1]));
  TERN_RETURN_IF_ERROR(check_channel_vector(c, 1, "scale", x.shape[1]));
  TERN_RETURN_IF_ERROR(check_channel_vector(c, 2, "bias", x.shape[1]));
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_instance_norm_nchw(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 3) return c.error("X %s must be [N, C, spatial...]", x.shape.str().c_str());
  if (!is_float(x.dtype)) return c.unsupported("X is %s; InstanceNormalization takes float", dtype_name(x.dtype));
  TERN_RETURN_IF_ERROR(check_channel_vector(c, 1, "scale", x.shape[1]));
  TERN_RETURN_IF_ERROR(check_channel_vector(c, 2, "B", x.shape[1]));
  c.outputs[0] = {x.dtype, x.shape, nullptr};
  return Status::ok();
}

Status infer_global_pool(const InferContext& c) {
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 3) return c.error("X %s must be [N, C, spatial...]", x.shape.str().c_str());
  Shape out = x.shape;
  for (int i = 2; i < out.rank; ++i) out[i] = 1;
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

Status infer_pool_nchw(const InferContext& c);

Status infer_pool(const InferContext& c) {
  if (c.opts<fb::PoolOptionsT>()->channels_last) return infer_channels_last(c, infer_pool_nchw);
  return infer_pool_nchw(c);
}

Status infer_pool_nchw(const InferContext& c) {
  const auto* o = c.opts<fb::PoolOptionsT>();
  const TensorInfo& x = *c.in(0);
  if (x.shape.rank < 3 || x.shape.rank > 5)
    return c.error("X %s must be [N, C, spatial...] with 1 to 3 spatial dims", x.shape.str().c_str());
  int spatial = x.shape.rank - 2;
  TERN_RETURN_IF_ERROR(check_window(c, spatial, o->kernel_shape, o->strides, o->dilations, o->pads));
  Shape out = x.shape;
  for (int i = 0; i < spatial; ++i) {
    int64_t in = x.shape[2 + i], pb = o->pads[i], pe = o->pads[i + spatial];
    if (pb >= o->kernel_shape[i] * o->dilations[i] || pe >= o->kernel_shape[i] * o->dilations[i])
      return c.error("padding on spatial axis %d must be smaller than the kernel", i);
    int64_t v = window_out(in, pb + pe, o->kernel_shape[i], o->strides[i], o->dilations[i], o->ceil_mode);
    if (v < 1) return c.error("the kernel does not fit the padded input on spatial axis %d (X %s)", i, x.shape.str().c_str());
    // ceil_mode: a window that would start entirely in the end padding is dropped (PyTorch/ONNX rule)
    if (o->ceil_mode && (v - 1) * o->strides[i] >= in + pb) --v;
    out[2 + i] = v;
  }
  c.outputs[0] = {x.dtype, out, nullptr};
  return Status::ok();
}

}  // namespace tern::ops
