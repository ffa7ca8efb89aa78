// The plan loader against bad files: every truncation and every single-byte corruption of a real
// plan must give a clean kInvalidPlan error (or, for the few bytes nothing reads, a plan that still
// runs correctly), and plans whose checksums are valid but whose contents are inconsistent (as a
// buggy or malicious producer could write) must be rejected by the structural checks.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "compiler/onnx_builder.h"
#include "core/plan_format.h"
#include "session.h"
#include "support/pipeline.h"

namespace fs = std::filesystem;

namespace tern::test {

namespace {

fs::path data_dir() { return fs::path(TERN_TEST_DATA_DIR); }

CompiledPlan small_plan() {
  auto c = compile_onnx((data_dir() / "small_cnn.onnx").string(), {"image=2x3x17x15"});
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  return std::move(c).value();
}

HostTensor small_input() {
  auto t = load_npy((data_dir() / "small_cnn_input.npy").string());
  REQUIRE(t.is_ok());
  return std::move(t).value();
}

// Loads bytes from a 64-byte-aligned copy (the loader borrows aligned memory).
Result<std::shared_ptr<const Plan>> load_bytes(const std::vector<uint8_t>& bytes, uint32_t flags = kLoadCopy) {
  return Plan::load_memory(bytes.data(), bytes.size(), flags | kLoadCopy);
}

}  // namespace

TEST_CASE("loader: a compiled plan loads, runs and matches PyTorch") {
  CompiledPlan cp = small_plan();
  auto out = run_plan(cp.plan, {small_input()}, "reference");
  REQUIRE_MESSAGE(out.is_ok(), out.status().message());
  auto golden = load_npy((data_dir() / "small_cnn_output.npy").string());
  REQUIRE(golden.is_ok());
  check_close((*out)[0], *golden, 1e-4, 1e-5, "small_cnn vs PyTorch");
}

TEST_CASE("loader: every truncation is a clean error") {
  CompiledPlan cp = small_plan();
  size_t checked = 0;
  for (size_t len = 0; len < cp.bytes.size(); ++len) {
    std::vector<uint8_t> cut(cp.bytes.begin(), cp.bytes.begin() + static_cast<long>(len));
    auto r = load_bytes(cut);
    REQUIRE_MESSAGE(!r.is_ok(), "a plan truncated to ", len, " of ", cp.bytes.size(), " bytes loaded");
    CHECK(r.status().code() == StatusCode::kInvalidPlan);
    CHECK(r.status().message().find('\n') == std::string::npos);
    if (len >= sizeof(FileHeader)) CHECK_MESSAGE(r.status().message().find("truncated") != std::string::npos, r.status().message());
    ++checked;
  }
  MESSAGE("checked ", checked, " truncations");
}

TEST_CASE("loader: every single-byte corruption is caught or harmless") {
  CompiledPlan cp = small_plan();
  HostTensor x = small_input();
  auto reference = run_plan(cp.plan, {x}, "reference");
  REQUIRE(reference.is_ok());
  FileHeader h;
  std::memcpy(&h, cp.bytes.data(), sizeof h);
  size_t fb_end = h.flatbuffer_offset + h.flatbuffer_size;
  size_t seg_start = align_up(fb_end, kSegmentAlignment);
  size_t caught = 0, harmless = 0;
  for (size_t pos = 0; pos < cp.bytes.size(); ++pos) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      std::vector<uint8_t> bad = cp.bytes;
      bad[pos] ^= mask;
      auto r = load_bytes(bad);
      if (!r.is_ok()) {
        CHECK(r.status().code() == StatusCode::kInvalidPlan);
        ++caught;
        continue;
      }
      // Only bytes nothing reads may change unnoticed: the header's flags and reserved words, and
      // the padding between the FlatBuffer and the first segment.
      bool unread = (pos >= 12 && pos < 16) || (pos >= 48 && pos < 64) || (pos >= fb_end && pos < seg_start);
      REQUIRE_MESSAGE(unread, "flipping byte ", pos, " (mask ", int(mask), ") went unnoticed");
      auto out = run_plan(*r, {x}, "reference");
      REQUIRE(out.is_ok());
      check_equal((*out)[0], (*reference)[0], "run after a harmless flip");
      ++harmless;
    }
  }
  MESSAGE(caught, " corruptions caught, ", harmless, " in unread bytes");
  CHECK(caught > 0);
}

TEST_CASE("loader: weight checksums can be skipped, and then weight corruption goes unnoticed") {
  CompiledPlan cp = small_plan();
  std::vector<uint8_t> bad = cp.bytes;
  bad[bad.size() - 3] ^= 0x40;  // inside the constant segment
  auto strict = load_bytes(bad);
  REQUIRE(!strict.is_ok());
  CHECK(strict.status().message().find("checksum") != std::string::npos);
  auto trusting = load_bytes(bad, kLoadSkipWeightChecksums);
  CHECK(trusting.is_ok());
}

TEST_CASE("loader: files that are not plans") {
  auto missing = Plan::load_file("/nonexistent/model.tern");
  REQUIRE(!missing.is_ok());
  CHECK(missing.status().code() == StatusCode::kIoError);
  auto dir = Plan::load_file(fs::temp_directory_path().string());
  REQUIRE(!dir.is_ok());
  auto onnx = Plan::load_file((data_dir() / "small_cnn.onnx").string());
  REQUIRE(!onnx.is_ok());
  CHECK_MESSAGE(onnx.status().message().find("not a Tern plan") != std::string::npos, onnx.status().message());
  // a plan written to disk loads by mmap
  CompiledPlan cp = small_plan();
  fs::path p = fs::temp_directory_path() / "tern_loader_test.tern";
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(cp.bytes.data()), static_cast<long>(cp.bytes.size()));
  auto mapped = Plan::load_file(p.string());
  fs::remove(p);
  REQUIRE_MESSAGE(mapped.is_ok(), mapped.status().message());
  CHECK(run_plan(*mapped, {small_input()}, "reference").is_ok());
}

TEST_CASE("loader: consistent checksums but inconsistent contents are rejected") {
  CompiledPlan cp = small_plan();
  auto expect_rejected = [&](std::vector<uint8_t> bytes, const char* fragment, const std::string& what) {
    rehash(bytes);
    auto r = load_bytes(bytes);
    REQUIRE_MESSAGE(!r.is_ok(), what, " was accepted");
    CHECK(r.status().code() == StatusCode::kInvalidPlan);
    CHECK_MESSAGE(r.status().message().find(fragment) != std::string::npos, what, ": ", r.status().message());
  };
  {
    // (a field equal to its default is not stored and cannot be mutated: pick one with an offset)
    auto b = cp.bytes;
    bool done = false;
    for (uint32_t i = 0; i < mutable_plan(b)->tensors()->size() && !done; ++i) {
      auto* t = mutable_plan(b)->mutable_tensors()->GetMutableObject(i);
      if (t->storage() == fb::Storage::Arena && t->offset() != 0) done = t->mutate_offset(1ull << 40);
    }
    REQUIRE(done);
    expect_rejected(b, "outside arena", "a tensor placed outside the arena");
  }
  {
    auto b = cp.bytes;
    auto* n = mutable_plan(b)->mutable_nodes()->GetMutableObject(0);
    n->mutable_inputs()->Mutate(0, 100000);
    expect_rejected(b, "refers to tensor", "a node reading a tensor index out of range");
  }
  {
    auto b = cp.bytes;
    auto* n = mutable_plan(b)->mutable_nodes()->GetMutableObject(0);
    int32_t out = n->outputs()->Get(0);
    auto* t = mutable_plan(b)->mutable_tensors()->GetMutableObject(static_cast<uint32_t>(out));
    int64_t c = t->shape()->Get(1);
    t->mutable_shape()->Mutate(1, c + 1);
    REQUIRE(t->mutate_size(t->size() / static_cast<uint64_t>(c) * static_cast<uint64_t>(c + 1)));
    expect_rejected(b, "", "an output whose shape disagrees with its op");
  }
  {
    auto b = cp.bytes;
    auto* t = mutable_plan(b)->mutable_tensors()->GetMutableObject(0);
    REQUIRE(t->mutate_size(t->size() + 4));
    expect_rejected(b, "records", "a tensor whose byte size disagrees with its shape");
  }
  {
    auto b = cp.bytes;
    REQUIRE(mutable_plan(b)->mutable_arenas()->GetMutableObject(0)->mutate_size(64));
    expect_rejected(b, "outside arena", "an arena too small for its tensors");
  }
  {
    auto b = cp.bytes;
    REQUIRE(mutable_plan(b)->mutate_version(kPlanVersion + 1));
    expect_rejected(b, "schema version", "a plan from a newer schema");
  }
  {
    auto b = cp.bytes;
    // A field holding its default (op Conv = 0) is not stored and cannot be mutated in place:
    // take the first node whose op is stored.
    auto* nodes = mutable_plan(b)->mutable_nodes();
    bool mutated = false;
    for (flatbuffers::uoffset_t i = 0; i < nodes->size() && !mutated; ++i)
      mutated = nodes->GetMutableObject(i)->mutate_op(static_cast<fb::OpType>(9999));
    REQUIRE(mutated);
    expect_rejected(b, "unknown op", "an unknown op type");
  }
}

TEST_CASE("loader: constants the CPU backend packed and released still read back intact") {
  // A CPU session drops the mapped pages of the weights XNNPACK packed (Plan::release_constant_pages,
  // several pages here); a reference run on the same plan afterwards re-reads them from the file and
  // must give bit-identical outputs to a run on an untouched copy. With borrowed memory (no file
  // mapping) nothing may be dropped: dropping anonymous pages would read back zeros.
  OnnxBuilder b(13);
  std::string x = b.input("x", {4, 384});
  std::string w = b.random({384, 512});
  std::string bias = b.random({512});
  std::string h = b.node("Gemm", {x, w, bias});
  std::string y = b.node("Relu", {h});
  b.output(y, 2);
  std::string onnx = b.save("release");
  auto c = compile_onnx(onnx);
  std::remove(onnx.c_str());
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  HostTensor in(DType::Float32, Shape{4, 384});
  for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  auto want = run_plan(c->plan, {in}, "reference");  // c->plan is a private copy
  REQUIRE(want.is_ok());

  fs::path p = fs::temp_directory_path() / "tern_release_test.tern";
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(c->bytes.data()), static_cast<long>(c->bytes.size()));
  auto mapped = Plan::load_file(p.string());
  REQUIRE_MESSAGE(mapped.is_ok(), mapped.status().message());
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(
      static_cast<uint8_t*>(std::aligned_alloc(64, (c->bytes.size() + 63) / 64 * 64)), &std::free);
  std::memcpy(buf.get(), c->bytes.data(), c->bytes.size());
  auto borrowed = Plan::load_memory(buf.get(), c->bytes.size());  // 64-byte aligned: borrowed, not copied
  REQUIRE(borrowed.is_ok());
  for (const auto& plan : {*mapped, *borrowed}) {
    auto cpu = run_plan(plan, {in}, "cpu");
    REQUIRE_MESSAGE(cpu.is_ok(), cpu.status().message());
    check_close((*cpu)[0], (*want)[0], 1e-4, 1e-5, "cpu vs reference");
    auto again = run_plan(plan, {in}, "reference");
    REQUIRE(again.is_ok());
    CHECK((*again)[0].bytes == (*want)[0].bytes);
    for (size_t t = 0; t < plan->tensors().size(); ++t) {
      const TensorDesc& d = plan->tensors()[t];
      if (d.storage != fb::Storage::Constant) continue;
      CHECK(std::memcmp(d.const_data, c->plan->tensors()[t].const_data, d.size) == 0);
    }
  }
  fs::remove(p);
}

}  // namespace tern::test

namespace tern::test {

TEST_CASE("session: per-node profiling times every node and leaves the outputs unchanged") {
  CompiledPlan cp = small_plan();
  const HostTensor x = small_input();
  for (const char* backend : {"cpu", "reference"}) {
    CAPTURE(backend);
    SessionOptions so;
    so.backend = backend;
    auto created = Session::create(cp.plan, so);
    REQUIRE_MESSAGE(created.is_ok(), created.status().message());
    Session& s = **created;
    REQUIRE(s.set_input(0, x.dtype, x.shape, x.bytes.data(), x.bytes.size()).is_ok());
    REQUIRE(s.run().is_ok());
    const TensorRef& y = s.output(0);
    const std::vector<uint8_t> plain(static_cast<uint8_t*>(y.data), static_cast<uint8_t*>(y.data) + y.bytes());
    CHECK(s.profile().empty());  // nothing until enabled
    s.enable_profiling();
    for (int i = 0; i < 3; ++i) REQUIRE(s.run().is_ok());
    CHECK(std::memcmp(y.data, plain.data(), plain.size()) == 0);
    const std::vector<Session::NodeTime> prof = s.profile();
    uint64_t total = 0;
    if (std::string(backend) == "cpu") {
      // The CPU backend times each node: one entry per plan node, in order, each nonzero.
      REQUIRE(prof.size() == cp.plan->nodes().size());
      for (size_t i = 0; i < prof.size(); ++i) {
        CHECK(prof[i].node == i);
        CHECK(!prof[i].whole_partition);
        CHECK(prof[i].ns > 0);
        CHECK(std::string(prof[i].backend) == "cpu");
      }
    } else {
      // The reference backend cannot: one entry per partition, on its first node.
      REQUIRE(prof.size() == cp.plan->partitions().size());
      CHECK(prof[0].whole_partition);
      CHECK(prof[0].node == 0);
    }
    for (const Session::NodeTime& t : prof) total += t.ns;
    CHECK(total > 0);
  }
}

}  // namespace tern::test
