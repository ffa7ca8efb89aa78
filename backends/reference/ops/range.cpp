// Range(start, limit, delta): value i is start + i * delta (ONNX). The length was fixed by shape
// inference from the same constant inputs (max(ceil((limit - start) / delta), 0)); the kernel
// fills exactly the output it is given.
#include <cstring>

#include "reference/kernel.h"

namespace tern::ref {

namespace {

template <typename T>
T scalar(const TensorRef& t) {
  T v;
  std::memcpy(&v, t.data, sizeof(T));
  return v;
}

}  // namespace

Status range(const KernelContext& ctx) {
  const TensorRef* y = ctx.out(0);
  if (!y) return Status::ok();
  const TensorRef &s = *ctx.in(0), &d = *ctx.in(2);
  const int64_t n = y->numel();
  switch (y->dtype) {
    case DType::Float32: {
      // In double, so that long ranges do not drift (float would lose the low bits of i * delta).
      double start = scalar<float>(s), delta = scalar<float>(d);
      float* out = y->as<float>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(start + static_cast<double>(i) * delta);
      return Status::ok();
    }
    case DType::Int32: {
      int64_t start = scalar<int32_t>(s), delta = scalar<int32_t>(d);
      int32_t* out = y->as<int32_t>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(start + i * delta);
      return Status::ok();
    }
    case DType::Int64: {
      // Unsigned arithmetic: wraps instead of overflowing (only reachable through a corrupt plan).
      uint64_t start = static_cast<uint64_t>(scalar<int64_t>(s)), delta = static_cast<uint64_t>(scalar<int64_t>(d));
      int64_t* out = y->as<int64_t>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int64_t>(start + static_cast<uint64_t>(i) * delta);
      return Status::ok();
    }
    default: return ctx.unsupported("dtype %s; Range takes float32, int32 or int64", dtype_name(y->dtype));
  }
}

}  // namespace tern::ref
