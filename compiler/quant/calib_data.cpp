#include "quant/calib_data.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace tern::compiler::quant {

namespace {

namespace fs = std::filesystem;

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint64_t rd64(const uint8_t* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }

Result<std::vector<uint8_t>> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return TERN_ERROR(kIoError, "cannot read calibration file '%s'", path.c_str());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return bytes;
}

// numpy's .npz: a ZIP archive of NAME.npy members, stored or deflated (savez_compressed), maybe
// with ZIP64 sizes. Read through the central directory.
Status read_npz(const std::string& path, RawCalibration* out) {
  TERN_ASSIGN_OR_RETURN(std::vector<uint8_t> z, read_all(path));
  auto bad = [&](const char* why) { return TERN_ERROR(kInvalidArgument, "calibration file '%s' is not a valid .npz (%s)", path.c_str(), why); };
  if (z.size() < 22) return bad("too short");
  size_t eocd = SIZE_MAX;
  for (size_t i = z.size() - 22 + 1; i-- > 0 && z.size() - i < 66000;)
    if (rd32(&z[i]) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == SIZE_MAX) return bad("no end of central directory");
  uint64_t count = rd16(&z[eocd + 10]), cd = rd32(&z[eocd + 16]);
  if ((cd == 0xFFFFFFFFu || count == 0xFFFF) && eocd >= 20 && rd32(&z[eocd - 20]) == 0x07064b50) {
    uint64_t z64 = rd64(&z[eocd - 20 + 8]);
    if (z64 + 56 > z.size() || rd32(&z[z64]) != 0x06064b50) return bad("bad ZIP64 record");
    count = rd64(&z[z64 + 32]);
    cd = rd64(&z[z64 + 48]);
  }
  size_t p = cd;
  for (uint64_t e = 0; e < count; ++e) {
    if (p + 46 > z.size() || rd32(&z[p]) != 0x02014b50) return bad("bad central directory");
    uint16_t method = rd16(&z[p + 10]);
    uint64_t csize = rd32(&z[p + 20]), usize = rd32(&z[p + 24]);
    uint16_t nlen = rd16(&z[p + 28]), xlen = rd16(&z[p + 30]), clen = rd16(&z[p + 32]);
    uint64_t local = rd32(&z[p + 42]);
    if (p + 46 + nlen + xlen > z.size()) return bad("truncated");
    std::string name(reinterpret_cast<const char*>(&z[p + 46]), nlen);
    for (size_t x = p + 46 + nlen; x + 4 <= p + 46 + nlen + xlen;) {
      uint16_t id = rd16(&z[x]), sz = rd16(&z[x + 2]);
      size_t f = x + 4;
      if (id == 1) {
        if (usize == 0xFFFFFFFFu && f + 8 <= x + 4 + sz) usize = rd64(&z[f]), f += 8;
        if (csize == 0xFFFFFFFFu && f + 8 <= x + 4 + sz) csize = rd64(&z[f]), f += 8;
        if (local == 0xFFFFFFFFu && f + 8 <= x + 4 + sz) local = rd64(&z[f]);
      }
      x += 4 + sz;
    }
    p += 46 + nlen + xlen + clen;
    if (local + 30 > z.size() || rd32(&z[local]) != 0x04034b50) return bad("bad local header");
    uint64_t data = local + 30 + rd16(&z[local + 26]) + rd16(&z[local + 28]);
    if (data + csize > z.size()) return bad("truncated member");
    std::vector<uint8_t> member;
    if (method == 0) {
      member.assign(z.begin() + static_cast<ptrdiff_t>(data), z.begin() + static_cast<ptrdiff_t>(data + csize));
    } else if (method == 8) {
      member.resize(usize);
      z_stream s{};
      if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return bad("zlib");
      s.next_in = &z[data];
      s.avail_in = static_cast<uInt>(csize);
      s.next_out = member.data();
      s.avail_out = static_cast<uInt>(usize);
      int r = inflate(&s, Z_FINISH);
      inflateEnd(&s);
      if (r != Z_STREAM_END) return bad("corrupt deflate data");
    } else {
      return bad("unsupported compression");
    }
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    TERN_ASSIGN_OR_RETURN(npy::Array a, npy::parse(member.data(), member.size(), path + ":" + name));
    out->arrays.emplace_back(name, std::move(a));
  }
  return Status::ok();
}

Status read_one(const std::string& path, RawCalibration* out) {
  std::string ext = fs::path(path).extension().string();
  if (ext == ".npz") {
    TERN_RETURN_IF_ERROR(read_npz(path, out));
  } else {
    TERN_ASSIGN_OR_RETURN(npy::Array a, npy::load(path));
    out->arrays.emplace_back("", std::move(a));
  }
  out->files.push_back(path);
  return Status::ok();
}

}  // namespace

Result<RawCalibration> read_calibration(const std::string& path) {
  RawCalibration raw;
  std::error_code ec;
  if (path.empty()) return TERN_ERROR(kInvalidArgument, "no calibration data given (--calib FILE.npy|FILE.npz|FOLDER)");
  if (!fs::exists(path, ec)) return TERN_ERROR(kInvalidArgument, "calibration data '%s' does not exist", path.c_str());
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".npy" || ext == ".npz")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) return TERN_ERROR(kInvalidArgument, "calibration folder '%s' holds no .npy or .npz files", path.c_str());
    for (const std::string& f : files) TERN_RETURN_IF_ERROR(read_one(f, &raw));
  } else {
    if (fs::file_size(path, ec) == 0) return TERN_ERROR(kInvalidArgument, "calibration file '%s' is empty", path.c_str());
    TERN_RETURN_IF_ERROR(read_one(path, &raw));
  }
  for (auto& [name, a] : raw.arrays) {
    if (a.dtype == DType::Float32 || a.dtype == DType::Int64 || a.dtype == DType::Int32) continue;
    return TERN_ERROR(kInvalidArgument, "calibration array%s%s is %s; calibration data must be float32 (or int64 / int32 for an integer input)",
                      name.empty() ? "" : " ", name.c_str(), dtype_name(a.dtype));
  }
  for (auto& [name, a] : raw.arrays)
    if (a.numel() == 0 || a.shape.empty())
      return TERN_ERROR(kInvalidArgument, "calibration array%s%s has no samples (shape [%s])", name.empty() ? "" : " ", name.c_str(),
                        [&] { std::string s; for (size_t i = 0; i < a.shape.size(); ++i) s += (i ? "x" : "") + std::to_string(a.shape[i]); return s; }().c_str());
  return raw;
}

CalibrationSet float_calibration(const std::vector<float>& samples, int64_t per_sample, int64_t batch) {
  CalibrationSet cs;
  cs.batch = batch;
  cs.per_sample = {per_sample};
  cs.elem_size = {sizeof(float)};
  cs.count = per_sample ? static_cast<int64_t>(samples.size()) / per_sample : 0;
  const auto* b = reinterpret_cast<const uint8_t*>(samples.data());
  cs.inputs = {std::vector<uint8_t>(b, b + samples.size() * sizeof(float))};
  return cs;
}

Result<CalibrationSet> bind_calibration(const RawCalibration& raw, const ir::Graph& g, int64_t max_samples) {
  CalibrationSet cs;
  const size_t ni = g.inputs.size();
  std::string names;
  for (const ir::Value* v : g.inputs) names += (names.empty() ? "" : ", ") + v->name;
  cs.inputs.resize(ni);
  cs.per_sample.resize(ni);
  cs.elem_size.resize(ni);
  std::vector<int64_t> counts(ni, 0);
  if (ni == 0) return TERN_ERROR(kInvalidArgument, "the model has no inputs to calibrate");
  cs.batch = g.inputs[0]->shape.rank ? g.inputs[0]->shape[0] : 1;
  for (size_t i = 0; i < ni; ++i) {
    const ir::Value* v = g.inputs[i];
    if (v->dtype != DType::Float32 && v->dtype != DType::Int64 && v->dtype != DType::Int32)
      return TERN_ERROR(kUnsupported, "input '%s' is %s; calibration feeds float32, int64 or int32 inputs", v->name.c_str(),
                        dtype_name(v->dtype));
    cs.elem_size[i] = dtype_size(v->dtype);
    int64_t b = v->shape.rank ? v->shape[0] : 1;
    if (b != cs.batch || b < 1)
      return TERN_ERROR(kInvalidArgument, "inputs have different batch sizes (%s is %s)", v->name.c_str(), v->shape.str().c_str());
    cs.per_sample[i] = v->shape.numel() / b;
  }
  for (const auto& [name, a] : raw.arrays) {
    size_t idx = SIZE_MAX;
    if (name.empty()) {
      if (ni != 1)
        return TERN_ERROR(kInvalidArgument, "an .npy calibrates a single-input model; this one has %zu inputs (%s): use an .npz with one array per input",
                          ni, names.c_str());
      idx = 0;
    } else {
      for (size_t i = 0; i < ni; ++i)
        if (g.inputs[i]->name == name) idx = i;
      if (idx == SIZE_MAX)
        return TERN_ERROR(kInvalidArgument, "calibration array '%s' names no graph input (inputs: %s)", name.c_str(), names.c_str());
    }
    const ir::Value* v = g.inputs[idx];
    if (a.dtype != v->dtype)
      return TERN_ERROR(kInvalidArgument, "calibration array%s%s is %s but input '%s' is %s", name.empty() ? "" : " ", name.c_str(),
                        dtype_name(a.dtype), v->name.c_str(), dtype_name(v->dtype));
    // Leading axis = samples, the rest = the input's shape without its batch dim; an array of
    // exactly that shape (no sample axis) is one sample.
    std::vector<int64_t> want(v->shape.dims + (v->shape.rank ? 1 : 0), v->shape.dims + v->shape.rank);
    std::vector<int64_t> rest(a.shape.begin() + 1, a.shape.end());
    int64_t samples;
    if (rest == want) samples = a.shape[0];
    else if (a.shape == want) samples = 1;
    else {
      std::string got, exp;
      for (size_t k = 0; k < a.shape.size(); ++k) got += (k ? "x" : "") + std::to_string(a.shape[k]);
      for (size_t k = 0; k < want.size(); ++k) exp += "x" + std::to_string(want[k]);
      return TERN_ERROR(kInvalidArgument, "calibration array for input '%s' has shape [%s]; expected [N%s] (N samples of %s without its batch dim)",
                        v->name.c_str(), got.c_str(), exp.c_str(), v->shape.str().c_str());
    }
    const uint8_t* p = a.data.data();
    cs.inputs[idx].insert(cs.inputs[idx].end(), p, p + samples * cs.per_sample[idx] * static_cast<int64_t>(cs.elem_size[idx]));
    counts[idx] += samples;
  }
  int64_t n = INT64_MAX;
  for (size_t i = 0; i < ni; ++i) {
    if (counts[i] == 0) return TERN_ERROR(kInvalidArgument, "no calibration data for input '%s'", g.inputs[i]->name.c_str());
    n = std::min(n, counts[i]);
  }
  for (size_t i = 0; i < ni; ++i)
    if (counts[i] != n)
      return TERN_ERROR(kInvalidArgument, "inputs have different numbers of calibration samples (%lld for '%s', %lld for '%s')",
                        static_cast<long long>(counts[i]), g.inputs[i]->name.c_str(), static_cast<long long>(n), g.inputs[0]->name.c_str());
  if (n < cs.batch)
    return TERN_ERROR(kInvalidArgument, "%lld calibration samples cannot fill one batch of %lld", static_cast<long long>(n),
                      static_cast<long long>(cs.batch));
  n = std::min(n, std::max(max_samples, cs.batch));
  n -= n % cs.batch;
  cs.count = n;
  for (size_t i = 0; i < ni; ++i) cs.inputs[i].resize(static_cast<size_t>(n * cs.per_sample[i]) * cs.elem_size[i]);
  return cs;
}

}  // namespace tern::compiler::quant
