// `tern compile --prepack` (compiler/emit/prepack.h, plan PackedConstant): the CPU kernels' packed
// weights stored in the plan and used in place by the sessions of a machine with the same
// micro-kernels; the same outputs bit for bit as packing at session creation; a plan whose layouts
// do not match (another CPU) still runs, packing as usual; bad packed-constant records are rejected.
#include <doctest/doctest.h>

#include <cstring>

#include <random>

#include "compiler.h"
#include "compiler/onnx_builder.h"
#include "core/plan_format.h"
#include "quant/quantizer.h"
#include "session.h"
#include "support/pipeline.h"

namespace tern::test {

namespace {

// Pointwise convs (channels-last after the layout pass), a 3x3 conv (im2col), a MatMul + bias and a
// Gemm (transB) + bias: every kind of Tern GEMM node with constant weights.
std::string dense_model() {
  OnnxBuilder b;
  std::string x = b.input("x", {1, 8, 10, 10});
  std::string h = b.node("Conv", {x, b.random({16, 8, 1, 1}), b.random({16})});
  h = b.node("Relu", {h});
  h = b.node("Conv", {h, b.random({64, 16, 3, 3}, -0.2f, 0.2f)}, {OnnxBuilder::Attr::list("pads", {1, 1, 1, 1})});
  h = b.node("Conv", {h, b.random({24, 64, 1, 1}, -0.3f, 0.3f)});
  h = b.node("Reshape", {h, b.ints({1, 24, 100})});
  h = b.node("Transpose", {h}, {OnnxBuilder::Attr::list("perm", {0, 2, 1})});
  h = b.node("MatMul", {h, b.random({24, 32}, -0.4f, 0.4f)});
  h = b.node("Add", {h, b.random({32})});
  h = b.node("ReduceMean", {h}, {OnnxBuilder::Attr::list("axes", {1}), OnnxBuilder::Attr::i("keepdims", 0)});
  std::string y = b.node("Gemm", {h, b.random({10, 32}), b.random({10})}, {OnnxBuilder::Attr::i("transB", 1)});
  b.output(y, 2);
  return b.save("prepack");
}

HostTensor dense_input() {
  HostTensor in(DType::Float32, Shape{1, 8, 10, 10});
  for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = static_cast<float>((i * 29) % 97) / 48.0f - 1.0f;
  return in;
}

struct Ran {
  std::vector<uint8_t> y;
  size_t prepacked = 0;
};

Ran run_cpu(const std::shared_ptr<const Plan>& p, int threads = 1) {
  SessionOptions so;
  so.backend = "cpu";
  so.num_threads = threads;
  auto s = Session::create(p, so);
  REQUIRE_MESSAGE(s.is_ok(), s.status().message());
  HostTensor in = dense_input();
  REQUIRE((*s)->set_input(0, in.dtype, in.shape, in.bytes.data(), in.bytes.size()).is_ok());
  REQUIRE((*s)->run().is_ok());
  const TensorRef& y = (*s)->output(0);
  Ran r;
  r.y.assign(static_cast<uint8_t*>(y.data), static_cast<uint8_t*>(y.data) + y.bytes());
  r.prepacked = (*s)->prepacked_in_use();
  return r;
}

}  // namespace

TEST_CASE("prepack: packed weights in the plan are used in place and change no output bit") {
  const std::string path = dense_model();
  auto plain = compile_onnx(path);
  auto packed = compile_onnx(path, {}, true);
  REQUIRE_MESSAGE(plain.is_ok(), plain.status().message());
  REQUIRE_MESSAGE(packed.is_ok(), packed.status().message());
  CHECK_FALSE(plain->plan->flatbuffer()->packed());
  const auto* pcs = packed->plan->flatbuffer()->packed();
  REQUIRE(pcs);
  // Two pointwise convs, the 3x3 conv (im2col), the MatMul and the Gemm.
  CHECK(pcs->size() == 5);
  CHECK(packed->plan->flatbuffer()->segments()->size() == 2);
  CHECK(packed->bytes.size() > plain->bytes.size());
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    const Ran a = run_cpu(plain->plan, threads), b = run_cpu(packed->plan, threads);
    CHECK(a.prepacked == 0);
    CHECK(b.prepacked == pcs->size());
    REQUIRE(a.y.size() == b.y.size());
    CHECK(std::memcmp(a.y.data(), b.y.data(), a.y.size()) == 0);
  }
  // The reference backend ignores the packed copies and reads the original weights.
  auto r1 = run_plan(plain->plan, {dense_input()}, "reference");
  auto r2 = run_plan(packed->plan, {dense_input()}, "reference");
  REQUIRE(r1.is_ok());
  REQUIRE(r2.is_ok());
  CHECK(r1->at(0).bytes == r2->at(0).bytes);
  std::remove(path.c_str());
}

TEST_CASE("prepack: int8 plans carry the int8 GEMM's packed weights and column offsets") {
  const std::string path = dense_model();
  std::vector<uint8_t> bytes[2];
  for (int prepack = 0; prepack < 2; ++prepack) {
    compiler::CompileOptions o;
    o.model_path = path;
    o.prepack = prepack == 1;
    auto c = compiler::compile_graph(o);
    REQUIRE_MESSAGE(c.is_ok(), c.status().message());
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> data(8 * 8 * 10 * 10);
    for (float& v : data) v = nd(rng);
    compiler::quant::QuantizeOptions qo;
    qo.max_drop = -1;  // every layer int8
    compiler::quant::QuantizeReport rep;
    REQUIRE(compiler::quant::quantize_compiled(*c, compiler::quant::float_calibration(data, 8 * 10 * 10, 1), qo, &rep).is_ok());
    auto b = compiler::emit_plan(*c, o, nullptr);
    REQUIRE_MESSAGE(b.is_ok(), b.status().message());
    bytes[prepack] = std::move(*b);
  }
  auto plain = Plan::load_memory(bytes[0].data(), bytes[0].size(), kLoadCopy);
  auto packed = Plan::load_memory(bytes[1].data(), bytes[1].size(), kLoadCopy);
  REQUIRE(plain.is_ok());
  REQUIRE(packed.is_ok());
  const auto* pcs = (*packed)->flatbuffer()->packed();
  REQUIRE(pcs);
  // The convs and the MatMul / Gemm, all int8 (q8-panels layouts).
  CHECK(pcs->size() >= 4);
  for (const fb::PackedConstant* pc : *pcs) CHECK(pc->layout()->str().rfind("q8-panels-v1/", 0) == 0);
  for (int threads : {1, 2}) {
    const Ran a = run_cpu(*plain, threads), b = run_cpu(*packed, threads);
    CHECK(a.prepacked == 0);
    CHECK(b.prepacked == pcs->size());
    CHECK(a.y == b.y);
  }
  std::remove(path.c_str());
}

TEST_CASE("prepack: a plan packed for other micro-kernels packs at session creation instead") {
  const std::string path = dense_model();
  auto packed = compile_onnx(path, {}, true);
  REQUIRE(packed.is_ok());
  const Ran want = run_cpu(packed->plan);
  // What another CPU would see: layouts naming micro-kernels this one does not use.
  std::vector<uint8_t> b = packed->bytes;
  for (const fb::PackedConstant* pc : *mutable_plan(b)->packed()) {
    char* s = const_cast<char*>(pc->layout()->c_str());
    s[pc->layout()->size() - 1] ^= 1;
  }
  rehash(b);
  auto other = Plan::load_memory(b.data(), b.size(), kLoadCopy);
  REQUIRE_MESSAGE(other.is_ok(), other.status().message());
  const Ran got = run_cpu(*other);
  CHECK(got.prepacked == 0);
  CHECK(got.y == want.y);
  std::remove(path.c_str());
}

TEST_CASE("prepack: packed-constant records that point outside the plan are rejected") {
  const std::string path = dense_model();
  auto packed = compile_onnx(path, {}, true);
  REQUIRE(packed.is_ok());
  const auto mutate = [&](auto f) {
    std::vector<uint8_t> b = packed->bytes;
    fb::PackedConstant* pc = mutable_plan(b)->mutable_packed()->GetMutableObject(1);
    REQUIRE(f(pc));
    rehash(b);
    return Plan::load_memory(b.data(), b.size(), kLoadCopy);
  };
  auto big = mutate([](fb::PackedConstant* pc) { return pc->mutate_size(pc->size() + (uint64_t{1} << 40)); });
  REQUIRE_FALSE(big.is_ok());
  CHECK(big.status().code() == StatusCode::kInvalidPlan);
  CHECK(big.status().message().find("packed constant") != std::string::npos);
  auto node = mutate([](fb::PackedConstant* pc) { return pc->mutate_node(100000); });
  REQUIRE_FALSE(node.is_ok());
  CHECK(node.status().message().find("refers to node") != std::string::npos);
  auto seg = mutate([](fb::PackedConstant* pc) { return pc->mutate_segment(7); });
  REQUIRE_FALSE(seg.is_ok());
  CHECK(seg.status().message().find("segment") != std::string::npos);
  auto mis = mutate([](fb::PackedConstant* pc) { return pc->mutate_offset(pc->offset() + 4); });
  REQUIRE_FALSE(mis.is_ok());
  CHECK(mis.status().message().find("misaligned") != std::string::npos);
  std::remove(path.c_str());
}

}  // namespace tern::test
