// The header-only C++ wrapper (tern/tern.hpp): RAII ownership, Status values, typed outputs.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "support/pipeline.h"
#include "tern/tern.hpp"

namespace fs = std::filesystem;

namespace tern::test {

TEST_CASE("c++ api: load, run by input name, typed outputs, errors as values") {
  fs::path data = fs::path(TERN_TEST_DATA_DIR);
  auto c = compile_onnx((data / "small_cnn.onnx").string(), {"image=2x3x17x15"});
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  fs::path path = fs::temp_directory_path() / "tern_cpp_api_test.tern";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(c->bytes.data()), static_cast<long>(c->bytes.size()));

  tern::api::Plan missing;
  tern::api::Status st = tern::api::Plan::load_file((path.string() + ".nope"), &missing);
  CHECK(!st);
  CHECK(st.code == TERN_IO_ERROR);
  CHECK(!st.message.empty());
  CHECK(!missing);

  tern::api::Session session;
  {
    tern::api::Plan plan;
    REQUIRE(tern::api::Plan::load_file(path.string(), &plan));
    CHECK(plan.num_inputs() == 1);
    CHECK(std::string(plan.output_info(0).name) == "logits");
    REQUIRE(tern::api::Session::create(plan, {.backend = "cpu", .num_threads = 1}, &session));
  }  // the plan handle goes; the session keeps the plan alive

  auto x = load_npy((data / "small_cnn_input.npy").string());
  REQUIRE(x.is_ok());
  std::span<const float> xs(x->data<float>(), static_cast<size_t>(x->numel()));
  st = session.set_input<float>("image", xs, {2, 3, 16, 15});
  CHECK(st.code == TERN_INVALID_ARGUMENT);
  CHECK(st.message.find("[2x3x16x15]") != std::string::npos);
  CHECK(session.set_input<float>("no_such_input", xs, {2, 3, 17, 15}).code == TERN_INVALID_ARGUMENT);
  REQUIRE(session.set_input<float>("image", xs, {2, 3, 17, 15}));
  REQUIRE(session.run());
  CHECK(session.output<int64_t>(0).empty());  // wrong dtype
  std::span<const float> y = session.output<float>(0);
  auto golden = load_npy((data / "small_cnn_output.npy").string());
  REQUIRE(golden.is_ok());
  REQUIRE(y.size() == static_cast<size_t>(golden->numel()));
  HostTensor got(DType::Float32, golden->shape);
  std::memcpy(got.bytes.data(), y.data(), y.size_bytes());
  check_close(got, *golden, 1e-4, 1e-5, "C++ API run vs PyTorch");
  fs::remove(path);
}

}  // namespace tern::test
