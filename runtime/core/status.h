// Status and Result<T>: how the runtime and kernels report errors (no exceptions cross them).
//
// A Status is a code plus a full-sentence message naming the op, the value and the rule broken.
// Constructing an error allocates its message; the OK path allocates nothing, so `run` stays
// allocation-free unless it fails. Both types are [[nodiscard]]: an ignored error is a bug.
#pragma once

#include <cstdarg>
#include <string>
#include <utility>
#include <variant>

namespace tern {

// Values mirror tern_status in the C API (runtime/include/tern/tern.h).
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,    // the caller passed something wrong (shape, dtype, index, option)
  kInvalidPlan = 2,        // a plan file is truncated, corrupted or inconsistent
  kUnsupported = 3,        // valid, but not something this build/backend can do
  kOutOfMemory = 4,
  kIoError = 5,            // a file could not be opened, read or mapped
  kBackendUnavailable = 6, // the requested backend has no device here
  kInternal = 7,           // a bug in Tern
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// printf-style construction of error statuses.
Status make_status(StatusCode code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
std::string str_format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string str_vformat(const char* fmt, va_list args);

#define TERN_ERROR(code, ...) ::tern::make_status(::tern::StatusCode::code, __VA_ARGS__)

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: must not be OK

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define TERN_CONCAT_IMPL(a, b) a##b
#define TERN_CONCAT(a, b) TERN_CONCAT_IMPL(a, b)

// Returns the status from the enclosing function if `expr` is an error.
#define TERN_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::tern::Status tern_status_ = (expr);           \
    if (!tern_status_.is_ok()) return tern_status_; \
  } while (0)

// `TERN_ASSIGN_OR_RETURN(auto x, make_x());` declares x from a Result or returns its error.
#define TERN_ASSIGN_OR_RETURN(lhs, expr) \
  TERN_ASSIGN_OR_RETURN_IMPL(TERN_CONCAT(tern_result_, __LINE__), lhs, expr)
#define TERN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.is_ok()) return tmp.status();           \
  lhs = std::move(tmp).value()

}  // namespace tern
