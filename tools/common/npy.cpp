#include "npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tern::npy {

int64_t Array::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const char* descr(DType t) {
  switch (t) {
    case DType::Float32: return "<f4";
    case DType::Float16: return "<f2";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Int32: return "<i4";
    case DType::Int64: return "<i8";
    case DType::Bool: return "|b1";
    case DType::Int16: return "<i2";
  }
  return "?";
}

namespace {

bool dtype_from_descr(const std::string& d, DType* out) {
  static const struct {
    const char* s;
    DType t;
  } table[] = {{"<f4", DType::Float32}, {"<f2", DType::Float16}, {"|i1", DType::Int8}, {"<i1", DType::Int8},
               {"|u1", DType::UInt8},   {"<u1", DType::UInt8},   {"<i4", DType::Int32}, {"<i8", DType::Int64},
               {"|b1", DType::Bool},    {"<b1", DType::Bool},    {"<i2", DType::Int16}};
  for (const auto& e : table)
    if (d == e.s) {
      *out = e.t;
      return true;
    }
  return false;
}

// Value of 'key' in the header dict, as raw text up to the next top-level ',' or '}'.
bool dict_value(const std::string& h, const std::string& key, std::string* out) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t c = h.find(':', k);
  if (c == std::string::npos) return false;
  size_t i = c + 1;
  while (i < h.size() && h[i] == ' ') ++i;
  int depth = 0;
  size_t j = i;
  for (; j < h.size(); ++j) {
    char ch = h[j];
    if (ch == '(' || ch == '[') ++depth;
    else if (ch == ')' || ch == ']') --depth;
    else if ((ch == ',' || ch == '}') && depth == 0) break;
  }
  *out = h.substr(i, j - i);
  return true;
}

}  // namespace

Result<Array> parse(const uint8_t* b, size_t size, const std::string& what) {
  if (size < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0)
    return TERN_ERROR(kInvalidArgument, "%s is not a NumPy .npy file", what.c_str());
  int major = b[6];
  size_t header_len, pos;
  if (major == 1) {
    header_len = static_cast<size_t>(b[8]) | (static_cast<size_t>(b[9]) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return TERN_ERROR(kInvalidArgument, "%s: truncated .npy header", what.c_str());
    header_len = static_cast<size_t>(b[8]) | (static_cast<size_t>(b[9]) << 8) | (static_cast<size_t>(b[10]) << 16) |
                 (static_cast<size_t>(b[11]) << 24);
    pos = 12;
  } else {
    return TERN_ERROR(kInvalidArgument, "%s: unsupported .npy version %d", what.c_str(), major);
  }
  if (header_len > size - pos) return TERN_ERROR(kInvalidArgument, "%s: truncated .npy header", what.c_str());
  std::string h(reinterpret_cast<const char*>(b + pos), header_len);
  pos += header_len;
  std::string d, fo, sh;
  if (!dict_value(h, "descr", &d) || !dict_value(h, "fortran_order", &fo) || !dict_value(h, "shape", &sh))
    return TERN_ERROR(kInvalidArgument, "%s: malformed .npy header", what.c_str());
  if (d.size() >= 2) d = d.substr(1, d.size() - 2);  // strip quotes
  Array a;
  if (!dtype_from_descr(d, &a.dtype))
    return TERN_ERROR(kInvalidArgument, "%s: dtype '%s' is not supported (use float32, float16, int8/16/32/64, uint8 or bool, little-endian)",
                      what.c_str(), d.c_str());
  if (fo.find("True") != std::string::npos)
    return TERN_ERROR(kInvalidArgument, "%s: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", what.c_str());
  for (size_t i = 0; i < sh.size();) {
    while (i < sh.size() && !(sh[i] >= '0' && sh[i] <= '9')) ++i;
    if (i >= sh.size()) break;
    int64_t v = 0;
    while (i < sh.size() && sh[i] >= '0' && sh[i] <= '9') {
      v = v * 10 + (sh[i] - '0');
      if (v > (int64_t{1} << 40)) return TERN_ERROR(kInvalidArgument, "%s: dimension too large", what.c_str());
      ++i;
    }
    a.shape.push_back(v);
  }
  if (a.shape.size() > static_cast<size_t>(kMaxRank))
    return TERN_ERROR(kInvalidArgument, "%s: rank %zu exceeds %d", what.c_str(), a.shape.size(), kMaxRank);
  uint64_t bytes = dtype_size(a.dtype);
  for (int64_t v : a.shape) {
    if (v && bytes > (UINT64_MAX >> 1) / static_cast<uint64_t>(v))
      return TERN_ERROR(kInvalidArgument, "%s: array too large", what.c_str());
    bytes *= static_cast<uint64_t>(v);
  }
  if (bytes > size - pos)
    return TERN_ERROR(kInvalidArgument, "%s is truncated: the header promises %llu data bytes, the file holds %zu", what.c_str(),
                      static_cast<unsigned long long>(bytes), size - pos);
  a.data.assign(b + pos, b + pos + bytes);
  return a;
}

Result<Array> load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return TERN_ERROR(kIoError, "cannot open '%s'", path.c_str());
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse(buf.data(), buf.size(), "'" + path + "'");
}

Status save(const std::string& path, const Array& a) {
  std::ostringstream h;
  h << "{'descr': '" << descr(a.dtype) << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < a.shape.size(); ++i) h << a.shape[i] << (a.shape.size() == 1 || i + 1 < a.shape.size() ? "," : "");
  h << "), }";
  std::string header = h.str();
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return TERN_ERROR(kIoError, "cannot write '%s'", path.c_str());
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xff),
                     static_cast<uint8_t>(header.size() >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(a.data.data(), 1, a.data.size(), f) == a.data.size();
  ok = (std::fclose(f) == 0) && ok;
  return ok ? Status::ok() : TERN_ERROR(kIoError, "failed writing '%s'", path.c_str());
}

}  // namespace tern::npy
