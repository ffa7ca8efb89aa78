#include "import/onnx_tensor.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "onnx/onnx_pb.h"

namespace tern::compiler {

Result<DType> dtype_from_onnx(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::Float32;
    case onnx::TensorProto::DOUBLE: return DType::Float32;
    case onnx::TensorProto::FLOAT16: return DType::Float16;
    case onnx::TensorProto::INT8: return DType::Int8;
    case onnx::TensorProto::UINT8: return DType::UInt8;
    case onnx::TensorProto::INT16: return DType::Int16;
    case onnx::TensorProto::INT32: return DType::Int32;
    case onnx::TensorProto::INT64: return DType::Int64;
    case onnx::TensorProto::BOOL: return DType::Bool;
    default: break;
  }
  const char* name = onnx::TensorProto::DataType_IsValid(t) ? onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(t)).c_str() : "unknown";
  return TERN_ERROR(kUnsupported, "element type %s (%d) is not supported", name, t);
}

namespace {

Status read_external(const onnx::TensorProto& t, const std::string& base_dir, std::string* out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = std::stoll(kv.value());
    else if (kv.key() == "length") length = std::stoll(kv.value());
  }
  if (location.empty()) return TERN_ERROR(kInvalidArgument, "external data without a location");
  std::filesystem::path p = std::filesystem::path(base_dir) / location;
  std::ifstream f(p, std::ios::binary);
  if (!f) return TERN_ERROR(kIoError, "cannot open external data file '%s'", p.string().c_str());
  f.seekg(0, std::ios::end);
  int64_t size = f.tellg();
  if (length < 0) length = size - offset;
  if (offset < 0 || length < 0 || offset + length > size)
    return TERN_ERROR(kInvalidArgument, "external data [%lld, +%lld) lies outside '%s' (%lld bytes)", static_cast<long long>(offset),
                      static_cast<long long>(length), p.string().c_str(), static_cast<long long>(size));
  out->resize(static_cast<size_t>(length));
  f.seekg(offset);
  f.read(out->data(), length);
  return Status::ok();
}

}  // namespace

Result<ConstantData> tensor_from_proto(const onnx::TensorProto& t, const std::string& base_dir) {
  ConstantData c;
  int onnx_type = t.data_type();
  TERN_ASSIGN_OR_RETURN(c.dtype, dtype_from_onnx(onnx_type));
  if (t.dims_size() > kMaxRank) return TERN_ERROR(kUnsupported, "rank %d exceeds %d", t.dims_size(), kMaxRank);
  c.shape.rank = t.dims_size();
  for (int i = 0; i < t.dims_size(); ++i) {
    if (t.dims(i) < 0) return TERN_ERROR(kInvalidArgument, "negative dimension");
    c.shape[i] = t.dims(i);
  }
  int64_t n = c.shape.numel();
  size_t esize = dtype_size(c.dtype);
  c.bytes.resize(static_cast<size_t>(n) * esize);
  bool is_double = onnx_type == onnx::TensorProto::DOUBLE;
  auto size_error = [&](size_t have, const char* field) {
    return TERN_ERROR(kInvalidArgument, "holds %zu values in %s but its shape %s needs %lld (truncated or corrupted model?)", have,
                      field, c.shape.str().c_str(), static_cast<long long>(n));
  };
  std::string external;
  const std::string* raw = nullptr;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    TERN_RETURN_IF_ERROR(read_external(t, base_dir, &external));
    raw = &external;
  } else if (t.has_raw_data()) {
    raw = &t.raw_data();
  }
  if (raw) {
    size_t src_esize = is_double ? 8 : esize;
    if (raw->size() != static_cast<size_t>(n) * src_esize) return size_error(raw->size() / (src_esize ? src_esize : 1), "raw_data");
    if (is_double) {
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, raw->data() + i * 8, 8);
        float f = static_cast<float>(d);
        std::memcpy(c.bytes.data() + i * 4, &f, 4);
      }
    } else {
      std::memcpy(c.bytes.data(), raw->data(), raw->size());
    }
    return c;
  }
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
      if (t.float_data_size() != n) return size_error(static_cast<size_t>(t.float_data_size()), "float_data");
      std::memcpy(c.bytes.data(), t.float_data().data(), c.bytes.size());
      break;
    case onnx::TensorProto::DOUBLE:
      if (t.double_data_size() != n) return size_error(static_cast<size_t>(t.double_data_size()), "double_data");
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<float*>(c.bytes.data())[i] = static_cast<float>(t.double_data(static_cast<int>(i)));
      break;
    case onnx::TensorProto::INT64:
      if (t.int64_data_size() != n) return size_error(static_cast<size_t>(t.int64_data_size()), "int64_data");
      std::memcpy(c.bytes.data(), t.int64_data().data(), c.bytes.size());
      break;
    default:  // int32_data carries int32, int16, int8, uint8, bool and float16 bit patterns
      if (t.int32_data_size() != n) return size_error(static_cast<size_t>(t.int32_data_size()), "int32_data");
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = t.int32_data(static_cast<int>(i));
        switch (esize) {
          case 1: c.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(v); break;
          case 2: { uint16_t h = static_cast<uint16_t>(v); std::memcpy(c.bytes.data() + i * 2, &h, 2); break; }
          default: std::memcpy(c.bytes.data() + i * 4, &v, 4); break;
        }
      }
      break;
  }
  return c;
}

Result<ConstantData> constant_node_value(const onnx::NodeProto& n, const std::string& base_dir) {
  for (const auto& a : n.attribute()) {
    ConstantData c;
    if (a.name() == "value") return tensor_from_proto(a.t(), base_dir);
    if (a.name() == "value_float") {
      c.dtype = DType::Float32;
      float f = a.f();
      c.bytes.resize(4);
      std::memcpy(c.bytes.data(), &f, 4);
      return c;
    }
    if (a.name() == "value_int") {
      c.dtype = DType::Int64;
      int64_t v = a.i();
      c.bytes.resize(8);
      std::memcpy(c.bytes.data(), &v, 8);
      return c;
    }
    if (a.name() == "value_floats") {
      c.dtype = DType::Float32;
      c.shape = Shape{a.floats_size()};
      c.bytes.resize(static_cast<size_t>(a.floats_size()) * 4);
      std::memcpy(c.bytes.data(), a.floats().data(), c.bytes.size());
      return c;
    }
    if (a.name() == "value_ints") {
      c.dtype = DType::Int64;
      c.shape = Shape{a.ints_size()};
      c.bytes.resize(static_cast<size_t>(a.ints_size()) * 8);
      std::memcpy(c.bytes.data(), a.ints().data(), c.bytes.size());
      return c;
    }
    if (a.name() == "sparse_value" || a.name() == "value_string" || a.name() == "value_strings")
      return TERN_ERROR(kUnsupported, "attribute '%s' is not supported", a.name().c_str());
  }
  return TERN_ERROR(kInvalidArgument, "has no value attribute");
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : dflt;
}

float attr_float(const onnx::NodeProto& n, const char* name, float dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : dflt;
}

std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : dflt;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const char* name) {
  const auto* a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

std::vector<float> attr_floats(const onnx::NodeProto& n, const char* name) {
  const auto* a = find_attr(n, name);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
}

}  // namespace tern::compiler
