// Data movement on Vulkan. The reshape family (Reshape, Flatten, Squeeze, Unsqueeze, Identity) is
// a buffer copy of any dtype; Transpose, Slice, Concat, Split, Expand and constant-mode Pad are
// strided copies of 32-bit words (shaders/copy.comp, 8-byte elements as two words), Pad's border
// is a fill (shaders/fill.comp) of float32 values. In fp16-storage partitions the copies move
// 16-bit words (Recorder::word_bytes) and float tensors are 2-byte elements. int8 tensors (int8
// plans) move as bytes through the 8-bit variant copy_i8 (VK_KHR_8bit_storage).
#include <cstring>

#include "ops/op_defs.h"
#include "reference/ops/data_util.h"  // float_to_half
#include "vulkan/vk_ops.h"

namespace tern::vk {

namespace {

// A strided copy of a box, in elements of the tensors' dtype as stored on the device.
struct Box {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {}, out_strides[kMaxRank] = {};
  int64_t in_offset = 0, out_offset = 0;
};

void record_box(Recorder& rec, int32_t in, int32_t out, Box b, size_t elem) {
  int64_t total = 1;
  for (int i = 0; i < b.rank; ++i) total *= b.dims[i];
  if (total == 0) return;
  const bool bytes = elem == 1;  // int8: one 8-bit word per element
  const int64_t words = bytes ? 1 : static_cast<int64_t>(elem / rec.word_bytes());
  if (words > 1) {  // several words per element: scale everything, add an inner dim of `words`
    for (int i = 0; i < b.rank; ++i) b.in_strides[i] *= words, b.out_strides[i] *= words;
    b.in_offset *= words, b.out_offset *= words;
    b.dims[b.rank] = words, b.in_strides[b.rank] = 1, b.out_strides[b.rank] = 1;
    ++b.rank;
    total *= words;
  }
  Params p;
  p.u(total).u(b.rank);
  for (int i = 0; i < 8; ++i) p.u(i < b.rank ? b.dims[i] : 1);
  for (int i = 0; i < 8; ++i) p.u(i < b.rank ? b.in_strides[i] : 0);
  for (int i = 0; i < 8; ++i) p.u(i < b.rank ? b.out_strides[i] : 0);
  p.u(b.in_offset).u(b.out_offset);
  rec.dispatch_threads(bytes ? "copy_i8" : "copy", {in, out}, p, static_cast<uint64_t>(total));
}

bool is_reshape(OpType op) {
  return op == OpType::Reshape || op == OpType::Flatten || op == OpType::Squeeze || op == OpType::Unsqueeze ||
         op == OpType::Identity;
}

}  // namespace

bool data_supports(const NodeQuery& q, std::string* why) {
  const TensorInfo* x = qin(q, 0);
  if (!x) return decline(why, "missing input");
  if (is_reshape(q.op)) return true;
  size_t e = dtype_size(x->dtype);
  if (e != 4 && e != 8 && x->dtype != DType::Int8)
    return decline(why, std::string("elements of ") + dtype_name(x->dtype) + "; int8 or 4- or 8-byte types only");
  for (const TensorInfo* t : q.inputs)
    if (t && q.op == OpType::Concat && t->dtype != x->dtype) return decline(why, "mixed dtypes");
  // Elements wider than a copy word take an extra innermost dim (fp16 storage: 16-bit words, so
  // 4-byte types other than float32, stored as float16, take one too).
  int max_rank = e == 8 || (q.fp16_storage && x->dtype != DType::Float32) ? 7 : 8;
  for (const TensorInfo* t : q.outputs)
    if (t && t->shape.rank > max_rank) return decline(why, "rank too high for the copy kernel");
  if (x->shape.rank > max_rank) return decline(why, "rank too high for the copy kernel");
  if (q.op == OpType::Pad) {
    const auto* o = qopts<fb::PadOptionsT>(q);
    if (!o) return decline(why, "missing options");
    if (o->mode != fb::PadMode::Constant) return decline(why, "Pad modes other than constant");
    if (x->dtype != DType::Float32) return decline(why, "Pad of non-float32 data");
    for (int64_t v : o->pads)
      if (v < 0) return decline(why, "negative pads");
    for (size_t i = 1; i < q.inputs.size(); ++i)
      if (qin(q, i) && !qin(q, i)->const_data) return decline(why, "pads given as a runtime tensor");
  }
  if (q.op == OpType::Slice && !qopts<fb::SliceOptionsT>(q)) return decline(why, "missing options");
  if (q.op == OpType::Split && !qopts<fb::SplitOptionsT>(q)) return decline(why, "missing options");
  if (q.op == OpType::Transpose && !qopts<fb::TransposeOptionsT>(q)) return decline(why, "missing options");
  if (q.op == OpType::Concat && !qopts<fb::AxisOptionsT>(q)) return decline(why, "missing options");
  return true;
}

Status data_record(const OpCall& c) {
  const OpType op = c.node->op;
  const TensorRef& x = *c.in(0);
  if (is_reshape(op)) {
    if (c.out(0)) c.rec->copy(c.in_id(0), c.out_id(0), x.bytes());
    return Status::ok();
  }
  const size_t e = dtype_size(x.dtype);
  int64_t xs[kMaxRank];
  row_major_strides(x.shape, xs);
  if (op == OpType::Concat) {
    const TensorRef* y = c.out(0);
    if (!y) return Status::ok();
    int axis = c.opts<fb::AxisOptionsT>()->axis;
    if (axis < 0) axis += y->shape.rank;
    int64_t ys[kMaxRank];
    row_major_strides(y->shape, ys);
    int64_t at = 0;
    for (size_t i = 0; i < c.node->inputs.size(); ++i) {
      const TensorRef* in = c.in(i);
      if (!in) continue;
      Box b;
      b.rank = in->shape.rank;
      row_major_strides(in->shape, b.in_strides);
      for (int d = 0; d < b.rank; ++d) b.dims[d] = in->shape[d], b.out_strides[d] = ys[d];
      b.out_offset = at * ys[axis];
      at += in->shape[axis];
      record_box(*c.rec, c.in_id(i), c.out_id(0), b, e);
    }
    return Status::ok();
  }
  if (op == OpType::Split) {
    int axis = c.opts<fb::SplitOptionsT>()->axis;
    if (axis < 0) axis += x.shape.rank;
    int64_t at = 0;
    for (size_t i = 0; i < c.node->outputs.size(); ++i) {
      const TensorRef* out = c.out(i);
      if (!out) {
        // an unused output still occupies its part of the axis: its size comes from the options
        const auto& sp = c.opts<fb::SplitOptionsT>()->split;
        at += i < sp.size() ? sp[i] : 0;
        continue;
      }
      Box b;
      b.rank = out->shape.rank;
      row_major_strides(out->shape, b.out_strides);
      for (int d = 0; d < b.rank; ++d) b.dims[d] = out->shape[d], b.in_strides[d] = xs[d];
      b.in_offset = at * xs[axis];
      at += out->shape[axis];
      record_box(*c.rec, c.in_id(0), c.out_id(i), b, e);
    }
    return Status::ok();
  }
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  Box b;
  b.rank = y->shape.rank;
  for (int d = 0; d < b.rank; ++d) b.dims[d] = y->shape[d];
  row_major_strides(y->shape, b.out_strides);
  switch (op) {
    case OpType::Transpose: {
      const auto& perm = c.opts<fb::TransposeOptionsT>()->perm;
      for (int d = 0; d < b.rank; ++d) b.in_strides[d] = perm.empty() ? xs[b.rank - 1 - d] : xs[perm[static_cast<size_t>(d)]];
      break;
    }
    case OpType::Slice: {
      const auto& o = *c.opts<fb::SliceOptionsT>();
      for (int d = 0; d < b.rank; ++d) b.in_strides[d] = xs[d];
      for (size_t i = 0; i < o.axes.size(); ++i) {
        int a = o.axes[i] < 0 ? o.axes[i] + x.shape.rank : o.axes[i];
        b.in_offset += o.starts[i] * xs[a];
        b.in_strides[a] = xs[a] * o.steps[i];
      }
      break;
    }
    case OpType::Expand: {
      const int off = y->shape.rank - x.shape.rank;
      for (int d = 0; d < b.rank; ++d) {
        int sd = d - off;
        b.in_strides[d] = sd < 0 || x.shape[sd] == 1 ? 0 : xs[sd];
      }
      break;
    }
    case OpType::Pad: {
      const auto& o = *c.opts<fb::PadOptionsT>();
      uint32_t bits;
      std::memcpy(&bits, &o.value, 4);
      if (c.rec->fp16_storage()) bits = ref::float_to_half(o.value);
      Params f;
      f.u(y->numel()).u(bits);
      c.rec->dispatch_threads("fill", {c.out_id(0)}, f, static_cast<uint64_t>(y->numel()));
      int64_t ys[kMaxRank];
      row_major_strides(y->shape, ys);
      b.rank = x.shape.rank;
      for (int d = 0; d < b.rank; ++d) {
        b.dims[d] = x.shape[d];
        b.in_strides[d] = xs[d];
        b.out_strides[d] = ys[d];
        b.out_offset += o.pads[static_cast<size_t>(d)] * ys[d];
      }
      break;
    }
    default: return c.error("not a data-movement op");
  }
  record_box(*c.rec, c.in_id(0), c.out_id(0), b, e);
  return Status::ok();
}

}  // namespace tern::vk
