// The model zoo on the target: plans compiled on the host (compile_plans.sh, run by a CTest fixture
// with the host's `tern`) are loaded and run here through the public C API on the CPU backend
// (TERN_TARGET_BACKENDS=cpu,reference for more), and every output is compared with PyTorch's
// golden. Under qemu this is the device deployment path exactly: the host's plan bytes, the
// target's kernels.
//
// TERN_PLANS (set by the CTest registration) holds <model>/model.tern, input_K.npy, output_K.npy.
// Tolerance as in tests/models: max |tern - golden| <= 1e-4 * max(1, max |golden|), with the
// figure reached printed per model and backend.
#include <doctest/doctest.h>

#include <tern/tern.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "npy.h"

namespace tern::test {
namespace {

std::string env_dir(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// DType values are the C API's tern_dtype values (schemas/plan.fbs).
tern_dtype to_c(DType t) { return static_cast<tern_dtype>(t); }

struct Session {
  tern_session* s = nullptr;
  ~Session() { tern_session_destroy(s); }
};
struct Plan {
  tern_plan* p = nullptr;
  ~Plan() { tern_plan_destroy(p); }
};

void check_model(const std::string& name) {
  const std::string plans = env_dir("TERN_PLANS");
  REQUIRE_MESSAGE(!plans.empty(), "TERN_PLANS is not set (the CTest registration sets it)");
  const std::string dir = plans + "/" + name, plan_path = dir + "/model.tern";
  INFO("model " << name << ", plan " << plan_path);

  Plan plan;
  tern_status st = tern_plan_load_file(plan_path.c_str(), 0, &plan.p);
  REQUIRE_MESSAGE(st == TERN_OK, std::string(tern_last_error()));

  std::vector<npy::Array> inputs, golden;
  for (size_t k = 0; k < tern_plan_num_inputs(plan.p); ++k) {
    auto a = npy::load(dir + "/input_" + std::to_string(k) + ".npy");
    REQUIRE_MESSAGE(a.is_ok(), a.status().message());
    inputs.push_back(std::move(a.value()));
  }
  for (size_t k = 0; k < tern_plan_num_outputs(plan.p); ++k) {
    auto a = npy::load(dir + "/output_" + std::to_string(k) + ".npy");
    REQUIRE_MESSAGE(a.is_ok(), a.status().message());
    golden.push_back(std::move(a.value()));
  }

  // The CPU backend by default (it falls back to the reference kernel per op); the reference
  // backend alone is slow under qemu and already checked on the host and by the op tests here.
  std::vector<std::string> backends = {"cpu"};
  if (const char* b = std::getenv("TERN_TARGET_BACKENDS")) {  // e.g. "cpu,reference"
    backends.clear();
    std::string list = b;
    for (size_t start = 0, end; start <= list.size(); start = end + 1) {
      end = std::min(list.find(',', start), list.size());
      if (end > start) backends.push_back(list.substr(start, end - start));
    }
  }
  for (const std::string& backend_name : backends) {
    const char* backend = backend_name.c_str();
    INFO("backend " << backend);
    tern_session_options opt;
    tern_session_options_init(&opt);
    opt.backend = backend;
    Session session;
    st = tern_session_create(plan.p, &opt, &session.s);
    REQUIRE_MESSAGE(st == TERN_OK, std::string(tern_last_error()));
    for (size_t k = 0; k < inputs.size(); ++k) {
      const npy::Array& a = inputs[k];
      st = tern_session_set_input(session.s, k, to_c(a.dtype), static_cast<int32_t>(a.shape.size()),
                                  a.shape.data(), a.data.data(), a.data.size());
      REQUIRE_MESSAGE(st == TERN_OK, std::string(tern_last_error()));
    }
    st = tern_session_run(session.s);
    REQUIRE_MESSAGE(st == TERN_OK, std::string(tern_last_error()));
    for (size_t k = 0; k < golden.size(); ++k) {
      const npy::Array& want = golden[k];
      INFO("output " << k);
      REQUIRE(want.dtype == DType::Float32);
      tern_tensor_info info;
      REQUIRE(tern_plan_output_info(plan.p, k, &info) == TERN_OK);
      REQUIRE(std::vector<int64_t>(info.dims, info.dims + info.rank) == want.shape);
      const void* data = nullptr;
      size_t bytes = 0;
      REQUIRE(tern_session_output(session.s, k, &data, &bytes) == TERN_OK);
      REQUIRE(bytes == want.data.size());
      const float* got = static_cast<const float*>(data);
      const float* ref = want.as<float>();
      double max_abs = 0, max_ref = 0;
      int64_t worst = 0;
      bool finite = true;
      for (int64_t i = 0; i < want.numel(); ++i) {
        if (!std::isfinite(got[i])) finite = false;
        max_ref = std::max(max_ref, std::fabs(double(ref[i])));
        double d = std::fabs(double(got[i]) - double(ref[i]));
        if (d > max_abs || std::isnan(d)) { max_abs = std::isnan(d) ? INFINITY : d; worst = i; }
      }
      double tol = 1e-4 * std::max(1.0, max_ref);
      std::printf("  %-22s %-9s output %zu: max|diff| %.3g (limit %.3g)\n", name.c_str(), backend, k, max_abs, tol);
      CHECK(finite);
      CHECK_MESSAGE(max_abs <= tol, "worst element " << worst << ": tern " << got[worst] << " vs PyTorch " << ref[worst]);
    }
  }
}

}  // namespace

TEST_CASE("mobilevit_v1_xxs plan matches PyTorch on target") { check_model("mobilevit_v1_xxs"); }
TEST_CASE("mobilevit_v2_050 plan matches PyTorch on target") { check_model("mobilevit_v2_050"); }
TEST_CASE("efficientformer_l1 plan matches PyTorch on target") { check_model("efficientformer_l1"); }
TEST_CASE("nextvit_small_hybrid plan matches PyTorch on target") { check_model("nextvit_small_hybrid"); }
TEST_CASE("deit_tiny plan matches PyTorch on target") { check_model("deit_tiny"); }
TEST_CASE("lmuformer plan matches PyTorch on target") { check_model("lmuformer"); }
TEST_CASE("spiking_lmuformer plan matches PyTorch on target") { check_model("spiking_lmuformer"); }
TEST_CASE("mamba_small plan matches PyTorch on target") { check_model("mamba_small"); }

}  // namespace tern::test
