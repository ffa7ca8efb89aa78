// Element types, static shapes and the tensor views kernels operate on.
//
// Shape is a fixed-capacity value type (rank <= kMaxRank) so kernels and the session never
// allocate to describe a tensor. TensorRef is a non-owning view: the data belongs to the session's
// arena, the plan's mapped constant segments, or (in the compiler) the IR's constant buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "plan_generated.h"

namespace tern {

using DType = fb::DType;
using OpType = fb::OpType;

constexpr int kMaxRank = 8;

// Bytes per element; 0 for a value outside the enum (never in a verified plan).
size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_valid(DType t);
bool dtype_is_float(DType t);

struct Shape {
  int rank = 0;
  int64_t dims[kMaxRank] = {};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d);
  static Shape from(std::span<const int64_t> d);  // caller guarantees d.size() <= kMaxRank

  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }
  int64_t numel() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::span<const int64_t> span() const { return {dims, static_cast<size_t>(rank)}; }
  std::vector<int64_t> vec() const { return {dims, dims + rank}; }
  std::string str() const;  // "[1x3x224x224]", "[]" for a scalar
};

// Row-major strides (in elements) of a shape.
void row_major_strides(const Shape& s, int64_t* strides);

// Dtype and shape of a value, plus its contents when it is a compile-time constant (shape
// inference needs the values of a few inputs, e.g. Range's bounds).
struct TensorInfo {
  DType dtype = DType::Float32;
  Shape shape;
  const void* const_data = nullptr;
};

// Per-tensor or per-channel affine quantization: real = scale * (q - zero_point).
struct QuantParams {
  const float* scale = nullptr;
  const int64_t* zero_point = nullptr;
  int count = 0;   // 1 = per tensor
  int axis = -1;   // channel axis when count > 1
};

struct TensorRef {
  DType dtype = DType::Float32;
  Shape shape;
  void* data = nullptr;
  const QuantParams* quant = nullptr;

  int64_t numel() const { return shape.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T> T* as() const { return static_cast<T*>(data); }
  TensorInfo info() const { return {dtype, shape, nullptr}; }
};

}  // namespace tern
