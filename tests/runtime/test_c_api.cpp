// The public C API: ownership, cleared out-parameters, error codes and messages, and that
// tern_session_run allocates nothing (malloc and operator new are counted in this binary).
#include <doctest/doctest.h>
#include <malloc.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>

#include "support/pipeline.h"
#include "tern/tern.h"

// ---- allocation counting (this test binary only) ----
static std::atomic<long> g_allocs{0};
static std::atomic<bool> g_counting{false};
extern "C" void* __libc_malloc(size_t);
extern "C" void* malloc(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }

namespace fs = std::filesystem;

namespace tern::test {

namespace {

fs::path data_dir() { return fs::path(TERN_TEST_DATA_DIR); }

std::string write_small_plan() {
  auto c = compile_onnx((data_dir() / "small_cnn.onnx").string(), {"image=2x3x17x15"});
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  fs::path p = fs::temp_directory_path() / "tern_c_api_test.tern";
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(c->bytes.data()), static_cast<long>(c->bytes.size()));
  return p.string();
}

}  // namespace

TEST_CASE("c api: load, describe, run, read outputs") {
  std::string path = write_small_plan();
  tern_plan* plan = reinterpret_cast<tern_plan*>(0x1);
  REQUIRE(tern_plan_load_file(path.c_str(), 0, &plan) == TERN_OK);
  REQUIRE(plan != nullptr);
  CHECK(tern_plan_num_inputs(plan) == 1);
  CHECK(tern_plan_num_outputs(plan) == 1);
  tern_tensor_info info;
  REQUIRE(tern_plan_input_info(plan, 0, &info) == TERN_OK);
  CHECK(std::string(info.name) == "image");
  CHECK(info.dtype == TERN_FLOAT32);
  CHECK(info.rank == 4);
  CHECK(info.dims[0] == 2);
  CHECK(info.bytes == 2 * 3 * 17 * 15 * 4);
  size_t idx = 99;
  CHECK(tern_plan_find_output(plan, "logits", &idx) == TERN_OK);
  CHECK(idx == 0);
  CHECK(tern_plan_find_input(plan, "nope", &idx) == TERN_INVALID_ARGUMENT);
  CHECK(idx == 0);  // cleared
  CHECK(std::string(tern_last_error()).find("no input named 'nope'") != std::string::npos);

  tern_session* s = nullptr;
  tern_session_options so;
  tern_session_options_init(&so);
  so.backend = "cpu";
  REQUIRE(tern_session_create(plan, &so, &s) == TERN_OK);
  tern_plan_destroy(plan);  // the session keeps the plan alive
  auto x = load_npy((data_dir() / "small_cnn_input.npy").string());
  REQUIRE(x.is_ok());
  REQUIRE(tern_session_set_input(s, 0, TERN_FLOAT32, info.rank, info.dims, x->bytes.data(), x->bytes.size()) == TERN_OK);
  REQUIRE(tern_session_run(s) == TERN_OK);
  const void* out = nullptr;
  size_t bytes = 0;
  REQUIRE(tern_session_output(s, 0, &out, &bytes) == TERN_OK);
  auto golden = load_npy((data_dir() / "small_cnn_output.npy").string());
  REQUIRE(golden.is_ok());
  REQUIRE(bytes == golden->bytes.size());
  HostTensor got(DType::Float32, golden->shape);
  std::memcpy(got.bytes.data(), out, bytes);
  check_close(got, *golden, 1e-4, 1e-5, "C API run vs PyTorch");
  CHECK(std::string(tern_session_backend(s)) == "cpu");
  tern_session_destroy(s);
  fs::remove(path);
}

TEST_CASE("c api: wrong inputs give clear errors") {
  std::string path = write_small_plan();
  tern_plan* plan = nullptr;
  REQUIRE(tern_plan_load_file(path.c_str(), 0, &plan) == TERN_OK);
  tern_session* s = nullptr;
  REQUIRE(tern_session_create(plan, nullptr, &s) == TERN_OK);
  std::vector<float> data(2 * 3 * 17 * 15);
  int64_t wrong[4] = {2, 3, 16, 15};
  CHECK(tern_session_set_input(s, 0, TERN_FLOAT32, 4, wrong, data.data(), data.size() * 4) == TERN_INVALID_ARGUMENT);
  CHECK(std::string(tern_last_error()).find("has shape [2x3x16x15] but the plan expects [2x3x17x15]") != std::string::npos);
  int64_t right[4] = {2, 3, 17, 15};
  CHECK(tern_session_set_input(s, 0, TERN_INT64, 4, right, data.data(), data.size() * 4) == TERN_INVALID_ARGUMENT);
  CHECK(std::string(tern_last_error()).find("is int64 but the plan expects float32") != std::string::npos);
  CHECK(tern_session_set_input(s, 0, TERN_FLOAT32, 4, right, data.data(), 12) == TERN_INVALID_ARGUMENT);
  CHECK(tern_session_set_input(s, 5, TERN_FLOAT32, 4, right, data.data(), data.size() * 4) == TERN_INVALID_ARGUMENT);
  const void* out = reinterpret_cast<const void*>(0x1);
  size_t n = 7;
  CHECK(tern_session_output(s, 3, &out, &n) == TERN_INVALID_ARGUMENT);
  CHECK(out == nullptr);
  CHECK(n == 0);
  tern_session_destroy(s);

  tern_session_options so;
  tern_session_options_init(&so);
  so.backend = "tpu";
  CHECK(tern_session_create(plan, &so, &s) == TERN_INVALID_ARGUMENT);
  CHECK(s == nullptr);
  so.backend = "cpu";
  so.num_threads = 0;
  CHECK(tern_session_create(plan, &so, &s) == TERN_INVALID_ARGUMENT);
  tern_plan_destroy(plan);

  tern_plan* none = reinterpret_cast<tern_plan*>(0x1);
  CHECK(tern_plan_load_file("/no/such/file.tern", 0, &none) == TERN_IO_ERROR);
  CHECK(none == nullptr);
  CHECK(tern_plan_load_file(nullptr, 0, &none) == TERN_INVALID_ARGUMENT);
  CHECK(tern_session_run(nullptr) == TERN_INVALID_ARGUMENT);
  tern_plan_destroy(nullptr);
  tern_session_destroy(nullptr);
  fs::remove(path);
}

TEST_CASE("c api: tern_session_run allocates nothing") {
  // The counter itself must see allocations, or this test could not fail.
  g_allocs = 0;
  g_counting = true;
  void* volatile p = malloc(16);
  free(p);
  std::vector<int>* volatile v = new std::vector<int>(3);
  delete v;
  g_counting = false;
  REQUIRE(g_allocs.load() >= 2);

  std::string path = write_small_plan();
  tern_plan* plan = nullptr;
  REQUIRE(tern_plan_load_file(path.c_str(), 0, &plan) == TERN_OK);
  for (const char* backend : {"cpu", "reference"}) {
    tern_session_options so;
    tern_session_options_init(&so);
    so.backend = backend;
    tern_session* s = nullptr;
    REQUIRE(tern_session_create(plan, &so, &s) == TERN_OK);
    REQUIRE(tern_session_run(s) == TERN_OK);  // first run outside the count (lazy OS paging only)
    g_allocs = 0;
    g_counting = true;
    tern_status st = TERN_OK;
    for (int i = 0; i < 5 && st == TERN_OK; ++i) st = tern_session_run(s);
    g_counting = false;
    CHECK(st == TERN_OK);
    CHECK_MESSAGE(g_allocs.load() == 0, backend, ": ", g_allocs.load(), " allocations during 5 runs");
    tern_session_destroy(s);
  }
  tern_plan_destroy(plan);
  fs::remove(path);
}

}  // namespace tern::test
