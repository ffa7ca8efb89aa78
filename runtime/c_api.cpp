// The C API: a shell over Plan and Session that turns Status into tern_status + tern_last_error.
#include <cstring>
#include <new>
#include <string>

#include "session.h"
#include "tern/tern.h"

#ifndef TERN_VERSION_STRING
#define TERN_VERSION_STRING "0.0.0"
#endif

struct tern_plan {
  std::shared_ptr<const tern::Plan> plan;
};

struct tern_session {
  std::unique_ptr<tern::Session> session;
  tern_plan plan;  // the session's own reference to its plan (tern_session_plan)
};

namespace {

thread_local std::string g_last_error;

static_assert(static_cast<int>(tern::StatusCode::kInternal) == TERN_INTERNAL, "status codes must agree");
static_assert(static_cast<int>(tern::DType::Int16) == TERN_INT16, "dtype values must agree");

tern_status fail(const tern::Status& s) {
  g_last_error = s.message();
  return static_cast<tern_status>(s.code());
}

tern_status fail(tern_status code, const char* msg) {
  g_last_error = msg;
  return code;
}

template <typename F>
tern_status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(TERN_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TERN_INTERNAL, e.what());
  } catch (...) {
    return fail(TERN_INTERNAL, "unknown internal error");
  }
}

tern_status tensor_info(const tern_plan* plan, size_t index, bool input, tern_tensor_info* out) {
  if (!out) return fail(TERN_INVALID_ARGUMENT, "out_info is NULL");
  std::memset(out, 0, sizeof(*out));
  if (!plan) return fail(TERN_INVALID_ARGUMENT, "plan is NULL");
  const auto& list = input ? plan->plan->inputs() : plan->plan->outputs();
  if (index >= list.size())
    return fail(TERN_ERROR(kInvalidArgument, "%s index %zu is out of range (the plan has %zu)", input ? "input" : "output",
                                 index, list.size()));
  const tern::TensorDesc& d = plan->plan->tensors()[list[index]];
  out->name = d.name.c_str();
  out->dtype = static_cast<tern_dtype>(d.dtype);
  out->rank = d.shape.rank;
  for (int i = 0; i < d.shape.rank; ++i) out->dims[i] = d.shape.dims[i];
  out->bytes = static_cast<size_t>(d.size);
  return TERN_OK;
}

tern_status find(const tern_plan* plan, const char* name, bool input, size_t* out_index) {
  if (!out_index) return fail(TERN_INVALID_ARGUMENT, "out_index is NULL");
  *out_index = 0;
  if (!plan || !name) return fail(TERN_INVALID_ARGUMENT, "plan or name is NULL");
  const auto& list = input ? plan->plan->inputs() : plan->plan->outputs();
  for (size_t i = 0; i < list.size(); ++i)
    if (plan->plan->tensors()[list[i]].name == name) {
      *out_index = i;
      return TERN_OK;
    }
  return fail(TERN_ERROR(kInvalidArgument, "the plan has no %s named '%s'", input ? "input" : "output", name));
}

tern_status wrap_plan(tern::Result<std::shared_ptr<const tern::Plan>> r, tern_plan** out_plan) {
  if (!r.is_ok()) return fail(r.status());
  *out_plan = new tern_plan{std::move(r).value()};
  return TERN_OK;
}

uint32_t load_flags(uint32_t flags) {
  uint32_t f = 0;
  if (flags & TERN_PLAN_COPY) f |= tern::kLoadCopy;
  if (flags & TERN_PLAN_SKIP_WEIGHT_CHECKSUMS) f |= tern::kLoadSkipWeightChecksums;
  return f;
}

}  // namespace

extern "C" {

const char* tern_version(void) { return TERN_VERSION_STRING; }

const char* tern_status_name(tern_status status) {
  return tern::status_code_name(static_cast<tern::StatusCode>(status));
}

const char* tern_last_error(void) { return g_last_error.c_str(); }

tern_status tern_plan_load_file(const char* path, uint32_t flags, tern_plan** out_plan) {
  if (!out_plan) return fail(TERN_INVALID_ARGUMENT, "out_plan is NULL");
  *out_plan = nullptr;
  if (!path) return fail(TERN_INVALID_ARGUMENT, "path is NULL");
  return guarded([&] { return wrap_plan(tern::Plan::load_file(path, load_flags(flags)), out_plan); });
}

tern_status tern_plan_load_memory(const void* data, size_t size, uint32_t flags, tern_plan** out_plan) {
  if (!out_plan) return fail(TERN_INVALID_ARGUMENT, "out_plan is NULL");
  *out_plan = nullptr;
  return guarded([&] { return wrap_plan(tern::Plan::load_memory(data, size, load_flags(flags)), out_plan); });
}

void tern_plan_destroy(tern_plan* plan) { delete plan; }

const tern_plan* tern_session_plan(const tern_session* session) { return session ? &session->plan : nullptr; }

size_t tern_plan_num_inputs(const tern_plan* plan) { return plan ? plan->plan->inputs().size() : 0; }
size_t tern_plan_num_outputs(const tern_plan* plan) { return plan ? plan->plan->outputs().size() : 0; }

tern_status tern_plan_input_info(const tern_plan* plan, size_t index, tern_tensor_info* out_info) {
  return tensor_info(plan, index, true, out_info);
}
tern_status tern_plan_output_info(const tern_plan* plan, size_t index, tern_tensor_info* out_info) {
  return tensor_info(plan, index, false, out_info);
}
tern_status tern_plan_find_input(const tern_plan* plan, const char* name, size_t* out_index) {
  return find(plan, name, true, out_index);
}
tern_status tern_plan_find_output(const tern_plan* plan, const char* name, size_t* out_index) {
  return find(plan, name, false, out_index);
}

void tern_session_options_init(tern_session_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->backend = "auto";
  options->num_threads = 1;
}

tern_status tern_session_create(const tern_plan* plan, const tern_session_options* options, tern_session** out_session) {
  if (!out_session) return fail(TERN_INVALID_ARGUMENT, "out_session is NULL");
  *out_session = nullptr;
  if (!plan) return fail(TERN_INVALID_ARGUMENT, "plan is NULL");
  tern::SessionOptions so;
  if (options) {
    if (options->struct_size < sizeof(tern_session_options))
      return fail(TERN_INVALID_ARGUMENT, "options->struct_size is too small: call tern_session_options_init first");
    if (options->backend) so.backend = options->backend;
    so.num_threads = options->num_threads;
    so.carry_state = (options->flags & TERN_SESSION_CARRY_STATE) != 0;
  }
  return guarded([&] {
    auto r = tern::Session::create(plan->plan, so);
    if (!r.is_ok()) return fail(r.status());
    *out_session = new tern_session{std::move(r).value(), tern_plan{plan->plan}};
    return TERN_OK;
  });
}

void tern_session_destroy(tern_session* session) { delete session; }

const char* tern_session_backend(const tern_session* session) {
  return session ? session->session->backend_summary().c_str() : "";
}

tern_status tern_session_set_input(tern_session* session, size_t index, tern_dtype dtype, int32_t rank,
                                   const int64_t* dims, const void* data, size_t bytes) {
  if (!session) return fail(TERN_INVALID_ARGUMENT, "session is NULL");
  if (rank < 0 || rank > TERN_MAX_RANK || (rank > 0 && !dims))
    return fail(TERN_ERROR(kInvalidArgument, "rank %d is invalid (0 to %d, with dims)", rank, TERN_MAX_RANK));
  tern::Shape shape;
  shape.rank = rank;
  for (int i = 0; i < rank; ++i) shape.dims[i] = dims[i];
  tern::Status s = session->session->set_input(index, static_cast<tern::DType>(dtype), shape, data, bytes);
  return s.is_ok() ? TERN_OK : fail(s);
}

tern_status tern_session_input_buffer(tern_session* session, size_t index, void** out_data, size_t* out_bytes) {
  if (out_data) *out_data = nullptr;
  if (out_bytes) *out_bytes = 0;
  if (!session || !out_data) return fail(TERN_INVALID_ARGUMENT, "session or out_data is NULL");
  if (index >= session->session->num_inputs())
    return fail(TERN_ERROR(kInvalidArgument, "input index %zu is out of range", index));
  const tern::TensorRef& t = session->session->input(index);
  *out_data = t.data;
  if (out_bytes) *out_bytes = t.bytes();
  return TERN_OK;
}

tern_status tern_session_run(tern_session* session) {
  if (!session) return fail(TERN_INVALID_ARGUMENT, "session is NULL");
  tern::Status s = session->session->run();
  return s.is_ok() ? TERN_OK : fail(s);
}

tern_status tern_session_output(const tern_session* session, size_t index, const void** out_data, size_t* out_bytes) {
  if (out_data) *out_data = nullptr;
  if (out_bytes) *out_bytes = 0;
  if (!session || !out_data) return fail(TERN_INVALID_ARGUMENT, "session or out_data is NULL");
  if (index >= session->session->num_outputs())
    return fail(TERN_ERROR(kInvalidArgument, "output index %zu is out of range", index));
  const tern::TensorRef& t = session->session->output(index);
  *out_data = t.data;
  if (out_bytes) *out_bytes = t.bytes();
  return TERN_OK;
}

tern_status tern_session_reset_state(tern_session* session) {
  if (!session) return fail(TERN_INVALID_ARGUMENT, "session is NULL");
  session->session->reset_state();
  return TERN_OK;
}

}  // extern "C"
