// Gather along one axis on Vulkan: 4- or 8-byte data (2-byte float16 in fp16-storage partitions;
// int8 as bytes through gather_i8),
// int32 or int64 indices (shaders/gather.comp).
// The GPU cannot fail a dispatch, so an out-of-range runtime index yields zeros where the
// reference reports an error; constant indices are checked here at prepare.
#include "ops/op_defs.h"
#include "vulkan/vk_ops.h"

namespace tern::vk {

bool gather_supports(const NodeQuery& q, std::string* why) {
  const TensorInfo* x = qin(q, 0);
  const TensorInfo* idx = qin(q, 1);
  if (!x || !idx || !qopts<fb::AxisOptionsT>(q)) return decline(why, "missing input or options");
  size_t e = dtype_size(x->dtype);
  if (e != 4 && e != 8 && x->dtype != DType::Int8)
    return decline(why, std::string("data of ") + dtype_name(x->dtype) + "; int8 or 4- or 8-byte types only");
  if (idx->dtype != DType::Int32 && idx->dtype != DType::Int64) return decline(why, "indices must be int32 or int64");
  return true;
}

Status gather_record(const OpCall& c) {
  const TensorRef* y = c.out(0);
  if (!y) return Status::ok();
  const TensorRef& x = *c.in(0);
  const TensorRef& idx = *c.in(1);
  int axis = c.opts<fb::AxisOptionsT>()->axis;
  if (axis < 0) axis += x.shape.rank;
  int64_t inner = 1, dim = x.shape[axis];
  for (int i = axis + 1; i < x.shape.rank; ++i) inner *= x.shape[i];
  const bool bytes = x.dtype == DType::Int8;
  const int64_t words = bytes ? 1 : static_cast<int64_t>(dtype_size(x.dtype) / c.rec->word_bytes());  // as stored on the device
  Params p;
  p.u(y->numel() * words).u(idx.numel()).u(inner * words).u(dim).u(idx.dtype == DType::Int64 ? 1 : 0);
  c.rec->dispatch_threads(bytes ? "gather_i8" : "gather", {c.in_id(0), c.in_id(1), c.out_id(0)}, p, static_cast<uint64_t>(y->numel() * words));
  return Status::ok();
}

}  // namespace tern::vk
