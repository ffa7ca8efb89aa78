// Reading and writing NumPy .npy files (format versions 1.0-3.0, little-endian, C order) for the
// CLI and the tests. Host-only tooling: not part of the device runtime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace tern::npy {

struct Array {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // numel * dtype_size bytes, C order

  int64_t numel() const;
  template <typename T> const T* as() const { return reinterpret_cast<const T*>(data.data()); }
  template <typename T> T* as() { return reinterpret_cast<T*>(data.data()); }
};

// Errors name the file and what is wrong (not an .npy, unsupported dtype, Fortran order,
// big-endian, truncated data).
Result<Array> load(const std::string& path);
Result<Array> parse(const uint8_t* bytes, size_t size, const std::string& what);
Status save(const std::string& path, const Array& a);
// The .npy descr string for a dtype ("<f4", "<i8", "|b1", ...).
const char* descr(DType t);

}  // namespace tern::npy
