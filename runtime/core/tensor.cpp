#include "core/tensor.h"

namespace tern {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float16: return 2;
    case DType::Int8: return 1;
    case DType::UInt8: return 1;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::Int16: return 2;
  }
  return 0;
}

bool dtype_valid(DType t) { return dtype_size(t) != 0; }

bool dtype_is_float(DType t) { return t == DType::Float32 || t == DType::Float16; }

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float16: return "float16";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Int16: return "int16";
  }
  return "invalid-dtype";
}

Shape::Shape(std::initializer_list<int64_t> d) {
  for (int64_t v : d) {
    if (rank == kMaxRank) break;
    dims[rank++] = v;
  }
}

Shape Shape::from(std::span<const int64_t> d) {
  Shape s;
  for (int64_t v : d) {
    if (s.rank == kMaxRank) break;
    s.dims[s.rank++] = v;
  }
  return s;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= dims[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (int i = 0; i < rank; ++i)
    if (dims[i] != o.dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

void row_major_strides(const Shape& s, int64_t* strides) {
  int64_t acc = 1;
  for (int i = s.rank - 1; i >= 0; --i) {
    strides[i] = acc;
    acc *= s.dims[i];
  }
}

}  // namespace tern
