// Tern runtime: a thin, header-only C++20 wrapper over the C API (tern.h).
//
//   tern::api::Plan plan;
//   if (auto st = tern::api::Plan::load_file("model.tern", &plan); !st) { fprintf(stderr, "%s\n", st.message.c_str()); ... }
//   tern::api::Session session;
//   if (auto st = tern::api::Session::create(plan, {.backend = "cpu", .num_threads = 2}, &session); !st) ...
//   session.set_input("image", input_floats, {1, 3, 224, 224});
//   session.run();
//   std::span<const float> logits = session.output<float>(0);
//
// Everything is in namespace tern::api. No exceptions: every fallible call returns a tern::api::Status (code + message), so the wrapper works
// in code built with -fno-exceptions. Ownership: Plan and Session are move-only RAII handles; a
// Plan may be destroyed while Sessions made from it live (the C plan is reference counted).
// Thread safety is the C API's: a Plan is shared freely, a Session is used by one thread at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tern/tern.h"

namespace tern::api {

struct Status {
  tern_status code = TERN_OK;
  std::string message;  // tern_last_error() at the time of the failure

  bool ok() const { return code == TERN_OK; }
  explicit operator bool() const { return ok(); }
  static Status from(tern_status s) { return s == TERN_OK ? Status{} : Status{s, tern_last_error()}; }
};

template <typename T> constexpr tern_dtype dtype_of();
template <> constexpr tern_dtype dtype_of<float>() { return TERN_FLOAT32; }
template <> constexpr tern_dtype dtype_of<int8_t>() { return TERN_INT8; }
template <> constexpr tern_dtype dtype_of<uint8_t>() { return TERN_UINT8; }
template <> constexpr tern_dtype dtype_of<int32_t>() { return TERN_INT32; }
template <> constexpr tern_dtype dtype_of<int64_t>() { return TERN_INT64; }

class Plan {
 public:
  Plan() = default;
  Plan(Plan&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Plan& operator=(Plan&& o) noexcept {
    if (this != &o) {
      tern_plan_destroy(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() { tern_plan_destroy(p_); }

  // Maps and verifies a plan file (flags: TERN_PLAN_*).
  static Status load_file(const std::string& path, Plan* out, uint32_t flags = 0) {
    tern_plan* p = nullptr;
    Status st = Status::from(tern_plan_load_file(path.c_str(), flags, &p));
    if (st) *out = Plan(p);
    return st;
  }
  // Verifies a plan in memory; without TERN_PLAN_COPY the bytes must outlive the plan.
  static Status load_memory(const void* data, size_t size, Plan* out, uint32_t flags = 0) {
    tern_plan* p = nullptr;
    Status st = Status::from(tern_plan_load_memory(data, size, flags, &p));
    if (st) *out = Plan(p);
    return st;
  }

  size_t num_inputs() const { return tern_plan_num_inputs(p_); }
  size_t num_outputs() const { return tern_plan_num_outputs(p_); }
  tern_tensor_info input_info(size_t i) const {
    tern_tensor_info info{};
    (void)tern_plan_input_info(p_, i, &info);
    return info;
  }
  tern_tensor_info output_info(size_t i) const {
    tern_tensor_info info{};
    (void)tern_plan_output_info(p_, i, &info);
    return info;
  }
  const tern_plan* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  explicit Plan(tern_plan* p) : p_(p) {}
  tern_plan* p_ = nullptr;
};

struct SessionOptions {
  const char* backend = "auto";  // "auto", "cpu", "vulkan" or "reference"
  int32_t num_threads = 1;
  bool carry_state = false;      // streaming: recurrent state carried from run to run
};

class Session {
 public:
  Session() = default;
  Session(Session&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Session& operator=(Session&& o) noexcept {
    if (this != &o) {
      tern_session_destroy(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { tern_session_destroy(s_); }

  static Status create(const Plan& plan, const SessionOptions& options, Session* out) {
    tern_session_options o;
    tern_session_options_init(&o);
    o.backend = options.backend;
    o.num_threads = options.num_threads;
    o.flags = options.carry_state ? TERN_SESSION_CARRY_STATE : 0u;
    tern_session* s = nullptr;
    Status st = Status::from(tern_session_create(plan.get(), &o, &s));
    if (st) *out = Session(s);
    return st;
  }

  // Copies an input, checking dtype and shape against the plan.
  template <typename T>
  Status set_input(size_t index, std::span<const T> data, std::initializer_list<int64_t> dims) {
    std::vector<int64_t> d(dims);
    return Status::from(tern_session_set_input(s_, index, dtype_of<T>(), static_cast<int32_t>(d.size()), d.data(),
                                               data.data(), data.size_bytes()));
  }
  template <typename T>
  Status set_input(const std::string& name, std::span<const T> data, std::initializer_list<int64_t> dims) {
    size_t index = 0;
    Status st = Status::from(tern_plan_find_input(tern_session_plan(s_), name.c_str(), &index));
    return st ? set_input(index, data, dims) : st;
  }
  Status run() { return Status::from(tern_session_run(s_)); }
  Status reset_state() { return Status::from(tern_session_reset_state(s_)); }

  // The output after a run (empty span if the index or dtype is wrong); valid until the next run.
  template <typename T>
  std::span<const T> output(size_t index) const {
    tern_tensor_info info{};
    const void* data = nullptr;
    size_t bytes = 0;
    if (tern_plan_output_info(tern_session_plan(s_), index, &info) != TERN_OK || info.dtype != dtype_of<T>() ||
        tern_session_output(s_, index, &data, &bytes) != TERN_OK)
      return {};
    return {static_cast<const T*>(data), bytes / sizeof(T)};
  }
  // Which backend(s) run the session, e.g. "cpu".
  const char* backend() const { return tern_session_backend(s_); }
  tern_session* get() const { return s_; }

 private:
  explicit Session(tern_session* s) : s_(s) {}
  tern_session* s_ = nullptr;
};

}  // namespace tern::api
