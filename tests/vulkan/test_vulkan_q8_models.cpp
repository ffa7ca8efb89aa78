// int8 plans on the Vulkan backend, end to end: each Fashion-MNIST model of models/fmnist is
// quantized once (its calibration set, 64 samples), emitted twice from the same quantized graph
// (target cpu and target vulkan), and both plans run over test images: the Vulkan plan must place
// every node on Vulkan (int8 nodes and their float islands alike), its logits must be within one
// quantization step of the CPU int8 plan's (the int8 kernels are bit-exact, tests/vulkan/
// test_vulkan_q8.cpp; a float island, e.g. a LayerNorm, may round its last bit differently on the
// GPU, and the Quantize after it then moves a value by one step), the top-1 classes must agree,
// `run` must create and allocate nothing, and the validation layers must stay silent. A third
// plan keeps the float islands on the CPU (TERN_VULKAN_DISABLE while partitioning) and runs every
// int8 node on Vulkan: its logits must equal the CPU int8 plan's bit for bit.
//
// The zoo ($TERN_ZOO, exported by the models/export-zoo fixture; calibrated on its one golden input) is checked the same way on that input,
// except for the one-step bound: deep transformers pass a last-bit difference of a float island
// through many later Quantize nodes, so the full-Vulkan figure is printed, not bounded (the CPU
// and reference backends differ as much from each other); the int8-only plan must be bit-exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "compiler.h"
#include "ops/op_defs.h"
#include "quant/calib_data.h"
#include "quant/quantizer.h"
#include "support/pipeline.h"
#include "vulkan/vk_context.h"
#include "vulkan/vulkan_backend.h"

namespace tern::test {
namespace {

struct EnableValidation {
  EnableValidation() {
    setenv("TERN_VULKAN_VALIDATION", "1", 0);
    setenv("XDG_RUNTIME_DIR", "/tmp", 0);
  }
} g_enable_validation;

std::string fmnist(const std::string& file) { return std::string(TERN_SOURCE_DIR) + "/models/fmnist/" + file; }

constexpr int64_t kImages = 100;

struct Plans {
  CompiledPlan cpu, vulkan, int8_only;  // int8_only: float islands on the CPU, int8 nodes on Vulkan
};

// Quantizes an ONNX model with the calibration file `calib` (64 samples at most) and emits the
// three plans. max_drop < 0: every int8-able node int8.
Plans quantize(const std::string& onnx, const std::vector<std::string>& shapes, const std::string& calib, double max_drop = 0.3) {
  const std::string model = std::filesystem::path(onnx).stem().string();
  compiler::CompileOptions o;
  o.model_path = onnx;
  o.input_shapes = shapes;
  o.layout = false;  // one quantized graph for both targets: NCHW (the Vulkan int8 shaders' layout)
  auto c = compiler::compile_graph(o);
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  auto raw = compiler::quant::read_calibration(calib);
  REQUIRE_MESSAGE(raw.is_ok(), raw.status().message());
  auto data = compiler::quant::bind_calibration(*raw, *c->graph, 64);
  REQUIRE_MESSAGE(data.is_ok(), data.status().message());
  compiler::quant::QuantizeOptions qo;
  qo.max_samples = 64;
  qo.max_drop = max_drop;
  qo.layer_sqnr = false;
  qo.int8_attention = false;  // no int8 Attention shader: as `tern quantize --target vulkan`
  compiler::quant::QuantizeReport rep;
  Status s = compiler::quant::quantize_compiled(*c, *data, qo, &rep);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  // The ops of the float islands (input 0 float32; Reshape moves bytes, Quantize / Dequantize are
  // the int8 kernels' own edges).
  std::string float_ops;
  for (const auto& n : c->graph->nodes()) {
    if (n->op == OpType::Reshape || n->op == OpType::QuantizeLinear || n->op == OpType::DequantizeLinear) continue;
    if (n->inputs.empty() || !n->inputs[0] || n->inputs[0]->info().dtype != DType::Float32) continue;
    const std::string name = ops::op_name(n->op);
    if (("," + float_ops + ",").find("," + name + ",") == std::string::npos) float_ops += (float_ops.empty() ? "" : ",") + name;
  }
  Plans p;
  for (int k = 0; k < 3; ++k) {
    o.target = k == 0 ? "cpu" : "vulkan";
    if (k == 2) setenv("TERN_VULKAN_DISABLE", float_ops.c_str(), 1);
    auto bytes = compiler::emit_plan(*c, o, nullptr);
    if (k == 2) unsetenv("TERN_VULKAN_DISABLE");
    REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
    CompiledPlan& cp = k == 0 ? p.cpu : k == 1 ? p.vulkan : p.int8_only;
    cp.bytes = std::move(*bytes);
    auto plan = Plan::load_memory(cp.bytes.data(), cp.bytes.size(), kLoadCopy);
    REQUIRE_MESSAGE(plan.is_ok(), plan.status().message());
    cp.plan = *plan;
  }
  MESSAGE(model << ": " << rep.int8_nodes << " int8 nodes, " << rep.fp32_nodes << " fp32; float island ops: " << float_ops);
  return p;
}

std::unique_ptr<Session> session(const std::shared_ptr<const Plan>& plan, const char* backend) {
  SessionOptions so;
  so.backend = backend;
  auto s = Session::create(plan, so);
  REQUIRE_MESSAGE(s.is_ok(), backend << ": " << s.status().message());
  return std::move(*s);
}

// Every node of the plan on Vulkan, and int8 nodes among them.
void check_placement(const Plan& vp) {
  size_t on = 0, int8_nodes = 0;
  for (const PartitionDesc& pd : vp.partitions())
    if (pd.backend == "vulkan") on += pd.num_nodes;
  for (const NodeDesc& nd : vp.nodes())
    if (!nd.inputs.empty() && nd.inputs[0] >= 0 && vp.tensors()[static_cast<size_t>(nd.inputs[0])].dtype == DType::Int8) ++int8_nodes;
  CHECK_MESSAGE(on == vp.nodes().size(), (vp.nodes().size() - on) << " nodes fall back to the CPU");
  CHECK(int8_nodes > 0);
}

// Int8 nodes of `plan` in its Vulkan partitions.
size_t int8_on_vulkan(const Plan& mp) {
  size_t n8 = 0;
  for (const PartitionDesc& pd : mp.partitions())
    if (pd.backend == "vulkan")
      for (uint32_t n = pd.first_node; n < pd.first_node + pd.num_nodes; ++n) {
        const NodeDesc& nd = mp.nodes()[n];
        n8 += !nd.inputs.empty() && nd.inputs[0] >= 0 && mp.tensors()[static_cast<size_t>(nd.inputs[0])].dtype == DType::Int8;
      }
  return n8;
}

void check_model(const std::string& model) {
  INFO("model " << model);
  std::unique_ptr<Backend> vk = make_vulkan_backend();
  REQUIRE_MESSAGE(vk->is_available(), "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
  Plans p = quantize(fmnist(model + ".onnx"), {"image=1x1x28x28"}, fmnist("calib.npy"));
  const Plan& vp = *p.vulkan.plan;
  check_placement(vp);

  // The output's quantization step: the logits come out of a DequantizeLinear.
  const TensorDesc& out = vp.tensors()[vp.outputs()[0]];
  REQUIRE(out.producer >= 0);
  const NodeDesc& last = vp.nodes()[static_cast<size_t>(out.producer)];
  REQUIRE(last.op == OpType::DequantizeLinear);
  const TensorDesc& q = vp.tensors()[static_cast<size_t>(last.inputs[0])];
  REQUIRE(q.has_quant);
  const double step = q.scales[0];

  // Held-out images from the committed calibration file (quantize() reads its first 64; the last
  // kImages of the 512 are unseen by the quantizer). The test set itself is generated, not in git.
  auto images = load_npy(fmnist("calib.npy"));
  REQUIRE_MESSAGE(images.is_ok(), images.status().message());
  const size_t image_bytes = 28 * 28 * sizeof(float);
  REQUIRE(images->bytes.size() >= (64 + kImages) * image_bytes);
  const size_t first_image = images->bytes.size() / image_bytes - kImages;

  std::unique_ptr<Session> cpu = session(p.cpu.plan, "cpu");
  std::unique_ptr<Session> gpu = session(p.vulkan.plan, "vulkan");
  std::unique_ptr<Session> mixed = session(p.int8_only.plan, "vulkan");
  const size_t mixed_int8_on_vulkan = int8_on_vulkan(*p.int8_only.plan);
  CHECK(mixed_int8_on_vulkan > 0);
  int64_t mixed_differ = 0;
  vk::Counters& c = vk::counters();
  double worst_steps = 0;
  int64_t agree = 0, differing = 0, elements = 0;
  uint64_t mem = 0, buf = 0, pipes = 0, sets = 0, cmds = 0;
  for (int64_t i = 0; i < kImages; ++i) {
    const void* img = images->bytes.data() + (first_image + static_cast<size_t>(i)) * image_bytes;
    for (Session* s : {cpu.get(), gpu.get(), mixed.get()}) {
      REQUIRE(s->set_input(0, DType::Float32, Shape{1, 1, 28, 28}, img, image_bytes).is_ok());
      Status rs = s->run();
      REQUIRE_MESSAGE(rs.is_ok(), rs.message());
    }
    if (i == 0) mem = c.memory_allocations, buf = c.buffers, pipes = c.pipelines, sets = c.descriptor_sets, cmds = c.command_buffers_recorded;
    const TensorRef& a = cpu->output(0);
    const TensorRef& b = gpu->output(0);
    REQUIRE(a.shape == b.shape);
    const float* pa = a.as<float>();
    const float* pb = b.as<float>();
    int64_t ia = 0, ib = 0;
    for (int64_t k = 0; k < a.numel(); ++k) {
      const double d = std::fabs(static_cast<double>(pa[k]) - pb[k]) / step;
      worst_steps = std::max(worst_steps, d);
      differing += d > 0;
      ++elements;
      if (pa[k] > pa[ia]) ia = k;
      if (pb[k] > pb[ib]) ib = k;
    }
    agree += ia == ib;
    const float* pm = mixed->output(0).as<float>();
    for (int64_t k = 0; k < a.numel(); ++k) mixed_differ += pm[k] != pa[k];
  }
  std::printf("  %-20s int8 on Vulkan vs CPU int8 over %lld images: max %.2f steps (step %.4g), %lld of %lld logits differ, "
              "top-1 agrees on %lld\n",
              model.c_str(), static_cast<long long>(kImages), worst_steps, step, static_cast<long long>(differing),
              static_cast<long long>(elements), static_cast<long long>(agree));
  std::printf("  %-20s int8 nodes on Vulkan (%zu), float islands on the CPU: %lld logits differ from CPU int8\n", model.c_str(),
              mixed_int8_on_vulkan, static_cast<long long>(mixed_differ));
  CHECK(mixed_differ == 0);
  CHECK(worst_steps <= 1.01);  // both sides are float32 s * (q - z): a step reads as 1 +- float rounding
  CHECK(agree >= kImages * 97 / 100);
  // Nothing created or allocated by the runs after the first.
  CHECK(c.memory_allocations == mem);
  CHECK(c.buffers == buf);
  CHECK(c.pipelines == pipes);
  CHECK(c.descriptor_sets == sets);
  CHECK(c.command_buffers_recorded == cmds);
  CHECK(c.validation_messages == 0);
}

// A zoo model ($TERN_ZOO/<name>: model.onnx, compile_args.txt, input_0.npy), calibrated on its
// golden input.
void check_zoo(const std::string& name) {
  INFO("zoo model " << name);
  std::unique_ptr<Backend> vk = make_vulkan_backend();
  REQUIRE_MESSAGE(vk->is_available(), "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
  // The zoo is exported into the build tree by the models/export-zoo CTest fixture (TERN_ZOO).
  const char* zoo = std::getenv("TERN_ZOO");
  REQUIRE_MESSAGE(zoo, "TERN_ZOO is not set (the CTest fixture models/export-zoo sets it)");
  const std::string dir = std::string(zoo) + "/" + name + "/";
  std::vector<std::string> shapes;
  {
    std::ifstream f(dir + "compile_args.txt");
    std::string a, b;
    while (std::getline(f, a))
      if (a == "--input-shape" && std::getline(f, b)) shapes.push_back(b);
  }
  Plans p = quantize(dir + "model.onnx", shapes, dir + "input_0.npy", -1.0);
  check_placement(*p.vulkan.plan);
  const size_t n8 = int8_on_vulkan(*p.int8_only.plan);
  CHECK(n8 > 0);
  auto input = load_npy(dir + "input_0.npy");
  REQUIRE_MESSAGE(input.is_ok(), input.status().message());
  std::vector<HostTensor> outs[3];
  const char* backends[3] = {"cpu", "vulkan", "vulkan"};
  const CompiledPlan* plans[3] = {&p.cpu, &p.vulkan, &p.int8_only};
  for (int k = 0; k < 3; ++k) {
    auto r = run_plan(plans[k]->plan, {*input}, backends[k]);
    REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    outs[k] = std::move(*r);
  }
  const Plan& vp = *p.vulkan.plan;
  for (size_t o = 0; o < outs[0].size(); ++o) {
    const HostTensor& a = outs[0][o];
    // The output's quantization step when it comes out of a DequantizeLinear (else 0: none).
    double step = 0;
    const TensorDesc& out = vp.tensors()[vp.outputs()[o]];
    if (out.producer >= 0 && vp.nodes()[static_cast<size_t>(out.producer)].op == OpType::DequantizeLinear)
      step = vp.tensors()[static_cast<size_t>(vp.nodes()[static_cast<size_t>(out.producer)].inputs[0])].scales[0];
    REQUIRE(a.dtype == DType::Float32);
    int64_t differ_full = 0, differ_int8 = 0;
    double worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      differ_full += outs[1][o].f(i) != a.f(i);
      differ_int8 += outs[2][o].f(i) != a.f(i);
      worst = std::max(worst, std::fabs(static_cast<double>(outs[1][o].f(i)) - a.f(i)));
      CHECK(std::isfinite(outs[1][o].f(i)));
    }
    std::printf("  %-22s output %zu: int8 nodes on Vulkan (%zu), float islands on the CPU: %lld of %lld values differ from CPU int8; "
                "all on Vulkan: %lld differ, max |diff| %.4g (%.1f steps)\n",
                name.c_str(), o, n8, static_cast<long long>(differ_int8), static_cast<long long>(a.numel()),
                static_cast<long long>(differ_full), worst, step > 0 ? worst / step : 0.0);
    CHECK(differ_int8 == 0);
  }
  CHECK(vk::counters().validation_messages == 0);
}

}  // namespace

TEST_CASE("int8 zoo mobilevit_v1_xxs on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("mobilevit_v1_xxs"); }
TEST_CASE("int8 zoo mobilevit_v2_050 on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("mobilevit_v2_050"); }
TEST_CASE("int8 zoo deit_tiny on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("deit_tiny"); }
TEST_CASE("int8 zoo efficientformer_l1 on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("efficientformer_l1"); }
TEST_CASE("int8 zoo nextvit_small_hybrid on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("nextvit_small_hybrid"); }
TEST_CASE("int8 zoo lmuformer on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("lmuformer"); }
TEST_CASE("int8 zoo spiking_lmuformer on Vulkan: int8 nodes bit-exact with CPU int8") { check_zoo("spiking_lmuformer"); }

TEST_CASE("int8 mobilevit_fm on Vulkan: every node on Vulkan, within one step of CPU int8") { check_model("mobilevit_fm"); }
TEST_CASE("int8 efficientformer_fm on Vulkan: every node on Vulkan, within one step of CPU int8") { check_model("efficientformer_fm"); }
TEST_CASE("int8 lmu_fm on Vulkan: every node on Vulkan, within one step of CPU int8") { check_model("lmu_fm"); }
TEST_CASE("int8 mamba_fm on Vulkan: every node on Vulkan, within one step of CPU int8") { check_model("mamba_fm"); }
TEST_CASE("int8 spiking_lmu_fm on Vulkan: every node on Vulkan, within one step of CPU int8") { check_model("spiking_lmu_fm"); }

}  // namespace tern::test
