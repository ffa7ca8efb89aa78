/* minimal: load a compiled plan and run it once, the way an app embeds Tern -- plain C, nothing but
 * the public header <tern/tern.h>.
 *
 *   minimal PLAN [INPUT_FILE ...]
 *
 * Each input is read from its file (in the plan's input order) or, without one, filled with zeros.
 * An input file holds the tensor's raw little-endian bytes; a file longer than the tensor is read
 * from its end, so a C-order .npy of the right dtype and shape works as well (its header is
 * skipped). Set TERN_BACKEND (auto, cpu, vulkan, reference) to choose the backend.
 * Prints each input's and output's name, dtype and shape, and the first values of float outputs.
 * Exit status: 0 on success, 1 on any error (with tern_last_error()'s message on stderr). */
#include <tern/tern.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* dtype_name(tern_dtype t) {
  switch (t) {
    case TERN_FLOAT32: return "float32";
    case TERN_FLOAT16: return "float16";
    case TERN_INT8: return "int8";
    case TERN_UINT8: return "uint8";
    case TERN_INT32: return "int32";
    case TERN_INT64: return "int64";
    case TERN_BOOL: return "bool";
    case TERN_INT16: return "int16";
  }
  return "?";
}

static void print_info(const char* kind, size_t index, const tern_tensor_info* info) {
  printf("%s %zu '%s': %s [", kind, index, info->name, dtype_name(info->dtype));
  for (int32_t d = 0; d < info->rank; ++d) printf(d ? "x%lld" : "%lld", (long long)info->dims[d]);
  printf("] (%zu bytes)\n", info->bytes);
}

static int fail(const char* what, tern_status status) {
  fprintf(stderr, "minimal: %s failed (%s): %s\n", what, tern_status_name(status), tern_last_error());
  return 1;
}

/* Reads the last `bytes` bytes of `path` into `dst`. */
static int read_input(const char* path, void* dst, size_t bytes) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "minimal: cannot open %s\n", path);
    return 1;
  }
  long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
  int ok = size >= 0 && (size_t)size >= bytes && fseek(f, size - (long)bytes, SEEK_SET) == 0 &&
           fread(dst, 1, bytes, f) == bytes;
  fclose(f);
  if (!ok) {
    fprintf(stderr, "minimal: %s holds %ld bytes, the input needs %zu\n", path, size, bytes);
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PLAN [INPUT_FILE ...]\n", argv[0]);
    return 1;
  }
  printf("tern %s\n", tern_version());

  tern_plan* plan = NULL;
  tern_status st = tern_plan_load_file(argv[1], 0, &plan);
  if (st != TERN_OK) return fail("tern_plan_load_file", st);

  tern_session_options options;
  tern_session_options_init(&options);
  const char* backend = getenv("TERN_BACKEND");
  if (backend && *backend) options.backend = backend;
  tern_session* session = NULL;
  st = tern_session_create(plan, &options, &session);
  if (st != TERN_OK) {
    tern_plan_destroy(plan);
    return fail("tern_session_create", st);
  }
  printf("backend %s\n", tern_session_backend(session));

  int rc = 0;
  for (size_t i = 0; i < tern_plan_num_inputs(plan) && rc == 0; ++i) {
    tern_tensor_info info;
    void* data = NULL;
    size_t bytes = 0;
    if ((st = tern_plan_input_info(plan, i, &info)) != TERN_OK) { rc = fail("tern_plan_input_info", st); break; }
    print_info("input ", i, &info);
    /* Write straight into the session's own input buffer: no copy, no allocation. */
    if ((st = tern_session_input_buffer(session, i, &data, &bytes)) != TERN_OK) {
      rc = fail("tern_session_input_buffer", st);
      break;
    }
    if ((int)i + 2 < argc)
      rc = read_input(argv[i + 2], data, bytes);
    else
      memset(data, 0, bytes);
  }

  if (rc == 0 && (st = tern_session_run(session)) != TERN_OK) rc = fail("tern_session_run", st);

  for (size_t i = 0; i < tern_plan_num_outputs(plan) && rc == 0; ++i) {
    tern_tensor_info info;
    const void* data = NULL;
    size_t bytes = 0;
    if ((st = tern_plan_output_info(plan, i, &info)) != TERN_OK) { rc = fail("tern_plan_output_info", st); break; }
    if ((st = tern_session_output(session, i, &data, &bytes)) != TERN_OK) { rc = fail("tern_session_output", st); break; }
    print_info("output", i, &info);
    if (info.dtype == TERN_FLOAT32) {
      const float* v = (const float*)data;
      size_t n = bytes / sizeof(float);
      printf("  values:");
      for (size_t k = 0; k < n && k < 8; ++k) printf(" %.5g", v[k]);
      printf(n > 8 ? " ...\n" : "\n");
    }
  }

  tern_session_destroy(session);
  tern_plan_destroy(plan);
  return rc;
}
