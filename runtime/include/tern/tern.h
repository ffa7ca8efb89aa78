/* Tern runtime C API.
 *
 * Load a compiled plan (`tern compile model.onnx -o model.tern`), create a session, write the
 * inputs, run, read the outputs:
 *
 *   tern_plan* plan = NULL;  tern_session* s = NULL;
 *   if (tern_plan_load_file("model.tern", 0, &plan) != TERN_OK) { puts(tern_last_error()); ... }
 *   if (tern_session_create(plan, NULL, &s) != TERN_OK) ...
 *   tern_session_set_input(s, 0, TERN_FLOAT32, rank, dims, data, bytes);
 *   tern_session_run(s);
 *   const void* out; size_t out_bytes; tern_session_output(s, 0, &out, &out_bytes);
 *   tern_session_destroy(s); tern_plan_destroy(plan);
 *
 * Conventions
 * - Every function that can fail returns a tern_status; on failure tern_last_error() returns a
 *   one-sentence message (thread-local, valid until the next failing call on the same thread).
 * - out_* parameters are cleared (set to NULL/0) on entry, so they are never left dangling.
 * - Objects come in create/destroy pairs; destroy functions accept NULL.
 * - A plan is immutable once loaded and may be shared by any number of sessions and threads; it
 *   is reference counted, so destroying it while sessions still use it is safe.
 * - A session is used by one thread at a time. tern_session_run allocates no memory.
 * - No C++ exception ever crosses this API.
 */
#ifndef TERN_TERN_H_
#define TERN_TERN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TERN_API __attribute__((visibility("default")))
#else
#define TERN_API
#endif

#define TERN_MAX_RANK 8

typedef enum tern_status {
  TERN_OK = 0,
  TERN_INVALID_ARGUMENT = 1,   /* wrong shape, dtype, index or option from the caller */
  TERN_INVALID_PLAN = 2,       /* the plan is truncated, corrupted or inconsistent */
  TERN_UNSUPPORTED = 3,        /* valid, but this build/backend cannot do it */
  TERN_OUT_OF_MEMORY = 4,
  TERN_IO_ERROR = 5,           /* a file could not be opened, read or mapped */
  TERN_BACKEND_UNAVAILABLE = 6,/* the requested backend has no device on this machine */
  TERN_INTERNAL = 7            /* a bug in Tern: please report it */
} tern_status;

typedef enum tern_dtype {
  TERN_FLOAT32 = 0,
  TERN_FLOAT16 = 1,
  TERN_INT8 = 2,
  TERN_UINT8 = 3,
  TERN_INT32 = 4,
  TERN_INT64 = 5,
  TERN_BOOL = 6,
  TERN_INT16 = 7
} tern_dtype;

typedef struct tern_plan tern_plan;
typedef struct tern_session tern_session;

typedef struct tern_tensor_info {
  const char* name;          /* owned by the plan, valid while the plan lives */
  tern_dtype dtype;
  int32_t rank;
  int64_t dims[TERN_MAX_RANK];
  size_t bytes;
} tern_tensor_info;

/* Library version, e.g. "0.1.0". Static storage. */
TERN_API const char* tern_version(void);
/* Short name of a status, e.g. "invalid plan". Static storage. */
TERN_API const char* tern_status_name(tern_status status);
/* Message of the last failed call on this thread ("" if none). */
TERN_API const char* tern_last_error(void);

/* --- plans ---------------------------------------------------------------------------------- */

enum {
  TERN_PLAN_COPY = 1u << 0,                  /* load_memory: copy the bytes instead of borrowing */
  TERN_PLAN_SKIP_WEIGHT_CHECKSUMS = 1u << 1  /* trust the weights' bytes: faster load of big plans */
};

/* Maps a plan file read-only and verifies it completely. */
TERN_API tern_status tern_plan_load_file(const char* path, uint32_t flags, tern_plan** out_plan);
/* Verifies a plan held in memory. Without TERN_PLAN_COPY the bytes are borrowed and must outlive
 * the plan and its sessions; misaligned data (not 64-byte aligned) is always copied. */
TERN_API tern_status tern_plan_load_memory(const void* data, size_t size, uint32_t flags, tern_plan** out_plan);
/* Releases the caller's reference; the plan is freed once no session uses it. NULL is ignored. */
TERN_API void tern_plan_destroy(tern_plan* plan);

TERN_API size_t tern_plan_num_inputs(const tern_plan* plan);
TERN_API size_t tern_plan_num_outputs(const tern_plan* plan);
TERN_API tern_status tern_plan_input_info(const tern_plan* plan, size_t index, tern_tensor_info* out_info);
TERN_API tern_status tern_plan_output_info(const tern_plan* plan, size_t index, tern_tensor_info* out_info);
/* Index of the input/output with this name; TERN_INVALID_ARGUMENT if there is none. */
TERN_API tern_status tern_plan_find_input(const tern_plan* plan, const char* name, size_t* out_index);
TERN_API tern_status tern_plan_find_output(const tern_plan* plan, const char* name, size_t* out_index);

/* --- sessions ------------------------------------------------------------------------------- */

typedef struct tern_session_options {
  uint32_t struct_size;  /* sizeof(tern_session_options), set by tern_session_options_init */
  const char* backend;   /* "auto" (default), "cpu", "vulkan" or "reference" */
  int32_t num_threads;   /* >= 1; default 1 */
  uint32_t flags;        /* TERN_SESSION_* */
} tern_session_options;

enum {
  /* Streaming: after each run, copy every recurrent state output (e.g. hT) into its state input
   * (h0), so consecutive runs process consecutive chunks of one stream. */
  TERN_SESSION_CARRY_STATE = 1u << 0
};

TERN_API void tern_session_options_init(tern_session_options* options);
/* Allocates the session's memory and prepares every partition on its backend. `options` may be
 * NULL for the defaults. TERN_BACKEND_UNAVAILABLE if "vulkan" was asked for and no device exists. */
TERN_API tern_status tern_session_create(const tern_plan* plan, const tern_session_options* options,
                                         tern_session** out_session);
TERN_API void tern_session_destroy(tern_session* session);
/* The plan this session runs (the session holds its own reference): valid while the session
 * lives, even after the caller destroyed its plan handle. Do not pass it to tern_plan_destroy. */
TERN_API const tern_plan* tern_session_plan(const tern_session* session);
/* Which backend(s) run the session, e.g. "cpu" or "vulkan+cpu". Valid while the session lives. */
TERN_API const char* tern_session_backend(const tern_session* session);

/* Copies an input after checking its dtype, shape and size against the plan. */
TERN_API tern_status tern_session_set_input(tern_session* session, size_t index, tern_dtype dtype, int32_t rank,
                                            const int64_t* dims, const void* data, size_t bytes);
/* The input's buffer inside the session, to write in place. Valid while the session lives. */
TERN_API tern_status tern_session_input_buffer(tern_session* session, size_t index, void** out_data, size_t* out_bytes);
/* Runs the plan once. Allocates nothing. */
TERN_API tern_status tern_session_run(tern_session* session);
/* The output's data after a run; valid until the next run or the session's destruction. */
TERN_API tern_status tern_session_output(const tern_session* session, size_t index, const void** out_data,
                                         size_t* out_bytes);
/* Zeroes the carried recurrent state: the next run starts a new stream. */
TERN_API tern_status tern_session_reset_state(tern_session* session);

#ifdef __cplusplus
}
#endif

#endif /* TERN_TERN_H_ */
