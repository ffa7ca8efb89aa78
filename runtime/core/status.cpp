#include "core/status.h"

#include <cstdio>

namespace tern {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kInvalidPlan: return "invalid plan";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfMemory: return "out of memory";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kBackendUnavailable: return "backend unavailable";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown status";
}

std::string str_vformat(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  char small[256];
  int n = std::vsnprintf(small, sizeof(small), fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  if (static_cast<size_t>(n) < sizeof(small)) return std::string(small, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  return out;
}

std::string str_format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = str_vformat(fmt, args);
  va_end(args);
  return s;
}

Status make_status(StatusCode code, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = str_vformat(fmt, args);
  va_end(args);
  return Status(code, std::move(s));
}

}  // namespace tern
