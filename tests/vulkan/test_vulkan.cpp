// Vulkan backend checks beyond the op suite (which runs as `vulkan/...` through the harness):
// a multi-node partition against the reference backend, transfers only at the partition's edges,
// no allocation / pipeline / descriptor creation during execute (counters), zero validation
// messages with VK_LAYER_KHRONOS_validation on, and honest `supports` answers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "backend_registry.h"
#include "support/harness.h"
#include "vulkan/vk_context.h"
#include "vulkan/vulkan_backend.h"

namespace tern::test {
namespace {

// Validation on for the whole binary, before the first Vulkan context is created.
struct EnableValidation {
  EnableValidation() {
    setenv("TERN_VULKAN_VALIDATION", "1", 0);
    setenv("XDG_RUNTIME_DIR", "/tmp", 0);
  }
} g_enable_validation;

Backend& vulkan() {
  static std::unique_ptr<Backend> b = make_vulkan_backend();
  return *b;
}

// Conv(3x3, pad 1) -> Relu -> GlobalAveragePool -> Reshape -> Gemm -> Softmax, as one partition.
struct SmallNet {
  std::vector<HostTensor> host;  // 0 x, 1 w, 2 b, 3 t1, 4 t2, 5 t3, 6 t4, 7 w2, 8 c2, 9 t5, 10 y
  std::vector<TensorRef> refs;
  std::vector<uint8_t> is_const;
  std::vector<fb::NodeOptionsUnion> opts;
  std::vector<std::vector<int32_t>> ins, outs;
  std::vector<NodeView> nodes;
  std::vector<int32_t> inputs{0}, outputs{10};

  SmallNet() {
    std::mt19937 rng(7);
    host = {random_f32(rng, {1, 3, 9, 9}), random_f32(rng, {4, 3, 3, 3}), random_f32(rng, {4}),
            HostTensor(DType::Float32, {1, 4, 9, 9}), HostTensor(DType::Float32, {1, 4, 9, 9}),
            HostTensor(DType::Float32, {1, 4, 1, 1}), HostTensor(DType::Float32, {1, 4}), random_f32(rng, {4, 5}),
            random_f32(rng, {5}), HostTensor(DType::Float32, {1, 5}), HostTensor(DType::Float32, {1, 5})};
    is_const = {0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0};
    fb::ConvOptionsT conv;
    conv.kernel_shape = {3, 3};
    conv.strides = {1, 1};
    conv.dilations = {1, 1};
    conv.pads = {1, 1, 1, 1};
    fb::ReshapeOptionsT reshape;
    reshape.shape = {1, 4};
    fb::GemmOptionsT gemm;
    fb::AxisOptionsT axis;
    axis.axis = 1;
    opts.push_back(make_options(conv));
    opts.emplace_back();
    opts.emplace_back();
    opts.push_back(make_options(reshape));
    opts.push_back(make_options(gemm));
    opts.push_back(make_options(axis));
    ins = {{0, 1, 2}, {3}, {4}, {5}, {6, 7, 8}, {9}};
    outs = {{3}, {4}, {5}, {6}, {9}, {10}};
    const OpType ops[] = {OpType::Conv, OpType::Relu, OpType::GlobalAveragePool, OpType::Reshape, OpType::Gemm, OpType::Softmax};
    for (size_t i = 0; i < 6; ++i) nodes.push_back({"n", ops[i], &opts[i], ins[i], outs[i]});
    for (HostTensor& h : host) refs.push_back(h.ref());
  }
  Subgraph graph() {
    Subgraph g;
    g.nodes = nodes;
    g.tensors = refs;
    g.is_constant = is_const;
    g.inputs = inputs;
    g.outputs = outputs;
    return g;
  }
};

TEST_CASE("vulkan: a device is available (lavapipe in CI)") {
  REQUIRE_MESSAGE(vulkan().is_available(), "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
}

TEST_CASE("vulkan: multi-node partition matches the reference and transfers only its edges") {
  REQUIRE(vulkan().is_available());
  SmallNet net;
  std::unique_ptr<Backend> ref = make_backend("reference");
  auto re = ref->prepare(net.graph(), {});
  REQUIRE(re.is_ok());
  REQUIRE(re.value()->execute().is_ok());
  HostTensor want = net.host[10];
  HostTensor want_mid = net.host[4];
  // Poison the host views of the partition's internal tensors: a backend that transfers only the
  // partition's inputs and outputs leaves them untouched.
  for (int t : {3, 4, 5, 6, 9}) std::memset(net.host[t].bytes.data(), 0x7f, net.host[t].bytes.size());
  std::memset(net.host[10].bytes.data(), 0, net.host[10].bytes.size());
  auto ve = vulkan().prepare(net.graph(), {});
  REQUIRE_MESSAGE(ve.is_ok(), ve.status().message());
  REQUIRE(ve.value()->execute().is_ok());
  check_close(net.host[10], want, 1e-4, 1e-5, "vulkan SmallNet output");
  for (int t : {3, 4, 5, 6, 9})
    for (uint8_t byte : net.host[t].bytes) REQUIRE(byte == 0x7f);
  (void)want_mid;
}

TEST_CASE("vulkan: execute creates and allocates nothing") {
  REQUIRE(vulkan().is_available());
  SmallNet net;
  auto ve = vulkan().prepare(net.graph(), {});
  REQUIRE(ve.is_ok());
  vk::Counters& c = vk::counters();
  const uint64_t mem = c.memory_allocations, buf = c.buffers, pipes = c.pipelines, sets = c.descriptor_sets,
                 cmds = c.command_buffers_recorded, subs = c.submits;
  CHECK(pipes > 0);  // prepare did create them (the counters count)
  for (int i = 0; i < 5; ++i) REQUIRE(ve.value()->execute().is_ok());
  CHECK(c.memory_allocations == mem);
  CHECK(c.buffers == buf);
  CHECK(c.pipelines == pipes);
  CHECK(c.descriptor_sets == sets);
  CHECK(c.command_buffers_recorded == cmds);
  CHECK(c.submits == subs + 5);
}

TEST_CASE("vulkan: fp16 storage runs the partition in float16, converts only at its edges, creates nothing in execute") {
  REQUIRE(vulkan().is_available());
  SmallNet net;
  std::unique_ptr<Backend> ref = make_backend("reference");
  auto re = ref->prepare(net.graph(), {});
  REQUIRE(re.is_ok());
  REQUIRE(re.value()->execute().is_ok());
  HostTensor want = net.host[10];
  for (int t : {3, 4, 5, 6, 9}) std::memset(net.host[t].bytes.data(), 0x7f, net.host[t].bytes.size());
  std::memset(net.host[10].bytes.data(), 0, net.host[10].bytes.size());
  BackendOptions o16;
  o16.fp16_storage = true;
  vk::Counters& c = vk::counters();
  const uint64_t pipes_before = c.pipelines;
  auto ve = vulkan().prepare(net.graph(), o16);
  REQUIRE_MESSAGE(ve.is_ok(), ve.status().message());
  CHECK(c.pipelines > pipes_before);  // the _fp16 variants are pipelines of their own
  const uint64_t mem = c.memory_allocations, buf = c.buffers, pipes = c.pipelines, sets = c.descriptor_sets;
  for (int i = 0; i < 3; ++i) REQUIRE(ve.value()->execute().is_ok());
  CHECK(c.memory_allocations == mem);
  CHECK(c.buffers == buf);
  CHECK(c.pipelines == pipes);
  CHECK(c.descriptor_sets == sets);
  // Float16 storage is visibly not float32 (softmax outputs rounded to 11 bits), yet within 1e-2.
  check_close(net.host[10], want, 1e-2, 1e-3, "vulkan fp16 SmallNet output");
  bool differs = false;
  for (int64_t i = 0; i < want.numel(); ++i) differs |= net.host[10].f(i) != want.f(i);
  CHECK_MESSAGE(differs, "fp16 storage gave bit-identical float32 results: is it on?");
  for (int t : {3, 4, 5, 6, 9})
    for (uint8_t byte : net.host[t].bytes) REQUIRE(byte == 0x7f);
}

TEST_CASE("vulkan: fp16 storage on a device without 16-bit storage fails at prepare, naming the cause") {
  REQUIRE(vulkan().is_available());
  SmallNet net;
  BackendOptions o16;
  o16.fp16_storage = true;
  setenv("TERN_VULKAN_NO_FP16", "1", 1);  // the backend then treats the device as lacking it
  auto ve = vulkan().prepare(net.graph(), o16);
  unsetenv("TERN_VULKAN_NO_FP16");
  REQUIRE_FALSE(ve.is_ok());
  CHECK(ve.status().message().find("16-bit storage") != std::string::npos);
  CHECK(ve.status().message().find("--fp16") != std::string::npos);
}

TEST_CASE("vulkan: validation layers are on and report nothing") {
  REQUIRE(vulkan().is_available());
  auto ctx = vk::Context::get();
  REQUIRE(ctx.is_ok());
  CHECK(ctx.value()->validation);
  SmallNet net;
  auto ve = vulkan().prepare(net.graph(), {});
  REQUIRE(ve.is_ok());
  REQUIRE(ve.value()->execute().is_ok());
  CHECK(vk::counters().validation_messages == 0);
}

TEST_CASE("vulkan: GPU time is measured with timestamps") {
  REQUIRE(vulkan().is_available());
  SmallNet net;
  auto ve = vulkan().prepare(net.graph(), {});
  REQUIRE(ve.is_ok());
  VulkanTimes before = vulkan_times();
  REQUIRE(ve.value()->execute().is_ok());
  VulkanTimes after = vulkan_times();
  auto ctx = vk::Context::get();
  if (ctx.value()->timestamps) CHECK(after.executes == before.executes + 1);
}

// The tern ops' own suite checks the reference against golden vectors; here each op also runs on
// Vulkan against the reference on random shapes (fp32, 1e-4 of the largest magnitude).
void check_on_vulkan(const NodeSpec& node, const std::string& what) {
  std::vector<HostTensor> want, got;
  REQUIRE_MESSAGE(try_run_reference(node, &want).is_ok(), what);
  Status st = try_run_on_backend(node, vulkan(), &got);
  REQUIRE_MESSAGE(st.is_ok(), what << ": " << st.message());
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    double mx = 0;
    for (int64_t i = 0; i < want[k].numel(); ++i) mx = std::max(mx, std::fabs(static_cast<double>(want[k].f(i))));
    check_close(got[k], want[k], 1e-4, 1e-4 * mx, what + " output " + std::to_string(k));
  }
}

TEST_CASE("vulkan: SelectiveScan, LMU and LIF match the reference") {
  REQUIRE(vulkan().is_available());
  std::mt19937 rng(11);
  for (int trial = 0; trial < 6; ++trial) {
    int64_t b = random_dim(rng, 1, 2), L = random_dim(rng, 1, 9), d = random_dim(rng, 1, 7), n = random_dim(rng, 1, 17);
    HostTensor u = random_f32(rng, {b, L, d}), delta = random_f32(rng, {b, L, d}), A = random_f32(rng, {d, n}, -2.f, -0.1f);
    HostTensor B = random_f32(rng, {b, L, n}), C = random_f32(rng, {b, L, n}), D = random_f32(rng, {d}), z = random_f32(rng, {b, L, d});
    HostTensor bias = random_f32(rng, {d}), h0 = random_f32(rng, {b, d, n});
    fb::SelectiveScanOptionsT so;
    so.delta_softplus = trial % 2 == 0;
    bool full = trial % 3 != 2;
    NodeSpec node{OpType::SelectiveScan, make_options(so),
                  {&u, &delta, &A, &B, &C, full ? &D : nullptr, full ? &z : nullptr, full ? &bias : nullptr, full ? &h0 : nullptr}, 2};
    node.constant_inputs = {false, false, true, false, false, true, false, true, false};
    check_on_vulkan(node, "SelectiveScan u " + u.shape.str() + " n " + std::to_string(n));

    // 128 / 100 over lmuformer's 128 steps of 1 channel (larger orders and scans split into
    // several dispatches: tests/reference/test_tern_ops.cpp, run on every backend).
    int64_t order = trial == 5 ? 128 : trial == 4 ? 100 : random_dim(rng, 1, 12);
    int64_t L2 = trial >= 4 ? 128 : L, c2 = trial == 4 ? 1 : trial == 5 ? 24 : d;
    HostTensor u2 = random_f32(rng, {b, L2, c2});
    const float amp = 0.9f / std::sqrt(static_cast<float>(order));  // a stable memory (spectral radius < 1)
    HostTensor A2 = random_f32(rng, {order, order}, -amp, amp), B2 = random_f32(rng, {order}), m0 = random_f32(rng, {b, c2, order});
    NodeSpec lmu{OpType::LMU, {}, {&u2, &A2, &B2, trial % 2 ? &m0 : nullptr}, 2};
    lmu.constant_inputs = {false, true, true, false};
    check_on_vulkan(lmu, "LMU u " + u2.shape.str() + " order " + std::to_string(order));

    fb::LIFOptionsT lo;
    lo.soft_reset = trial % 2 == 1;
    lo.time_axis = 1;
    HostTensor x = random_f32(rng, {b, L, d, 3}, -1.f, 3.f), v0 = random_f32(rng, {b, d, 3});
    NodeSpec lif{OpType::LIF, make_options(lo), {&x, trial % 2 ? &v0 : nullptr}, 2};
    check_on_vulkan(lif, "LIF x " + x.shape.str());
  }
}

TEST_CASE("vulkan: supports is honest and needs no device") {
  Backend& b = vulkan();
  TensorInfo i8{DType::Int8, {1, 3, 8, 8}, nullptr}, w8{DType::Int8, {4, 3, 3, 3}, nullptr}, y8{DType::Int8, {1, 4, 6, 6}, nullptr};
  const TensorInfo* ins[] = {&i8, &w8};
  const TensorInfo* outs[] = {&y8};
  fb::ConvOptionsT conv;
  conv.kernel_shape = {3, 3};
  fb::NodeOptionsUnion u = make_options(conv);
  NodeQuery q;
  q.op = OpType::Conv;
  q.options = &u;
  q.inputs = ins;
  q.outputs = outs;
  std::string why;
  CHECK(b.supports(q, &why));  // an int8 Conv runs its int8 kernel (tests/vulkan/test_vulkan_q8.cpp)
  fb::ConvOptionsT silu = conv;
  silu.activation = fb::Activation::SiLU;
  fb::NodeOptionsUnion us = make_options(silu);
  q.options = &us;
  CHECK_FALSE(b.supports(q, &why));  // ... but a fused SiLU has no int8 form
  CHECK(why.find("int8") != std::string::npos);
  q.options = &u;
  q.op = OpType::Where;
  why.clear();
  CHECK_FALSE(b.supports(q, &why));
  CHECK(!why.empty());
  TensorInfo f{DType::Float32, {1, 3, 8, 8}, nullptr}, wf{DType::Float32, {4, 3, 3, 3}, nullptr}, yf{DType::Float32, {1, 4, 6, 6}, nullptr};
  const TensorInfo* fins[] = {&f, &wf};
  const TensorInfo* fouts[] = {&yf};
  q.op = OpType::Conv;
  q.inputs = fins;
  q.outputs = fouts;
  CHECK(b.supports(q, &why));
}

}  // namespace
}  // namespace tern::test
