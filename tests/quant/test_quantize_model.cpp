// End to end: an ONNX model + a random calibration set -> int8 plan (compiler/quant) -> loaded and
// run by the runtime -> outputs close to the fp32 plan's, and a plan a fraction of the ONNX size.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "compiler.h"
#include "compiler/onnx_builder.h"
#include "core/plan_format.h"
#include "quant/calib_data.h"
#include "quant/executor.h"
#include "quant/quantizer.h"
#include "support/pipeline.h"

using namespace tern;

namespace {

std::string data_path(const char* rel) { return std::string(TERN_SOURCE_DIR) + "/" + rel; }

double sqnr_db(const test::HostTensor& ref, const test::HostTensor& got) {
  double s = 0, e = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double a = ref.f(i), b = got.f(i);
    s += a * a;
    e += (a - b) * (a - b);
  }
  return e > 0 ? 10 * std::log10(s / e) : 200;
}

struct Quantized {
  std::vector<uint8_t> bytes;
  compiler::quant::QuantizeReport report;
  size_t onnx_bytes = 0;
};

// layout: the CPU target's channels-last layout pass first (as `tern quantize` does), so Conv and
// the pools quantize in channels_last form; off: NCHW (the Vulkan target's int8 graph).
Quantized quantize(const std::string& model, const std::string& shape, int64_t samples, compiler::quant::QuantizeOptions qo = {},
                   bool layout = true) {
  compiler::CompileOptions o;
  o.model_path = model;
  o.input_shapes = {shape};
  o.layout = layout;
  auto c = compiler::compile_graph(o);
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  const ir::Value* in = c->graph->inputs[0];
  const int64_t batch = in->shape[0], per_sample = in->shape.numel() / batch;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> data(static_cast<size_t>(samples * per_sample));
  for (float& v : data) v = nd(rng);
  compiler::quant::CalibrationSet cs = compiler::quant::float_calibration(data, per_sample, batch);
  Quantized q;
  Status s = compiler::quant::quantize_compiled(*c, cs, qo, &q.report);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  auto bytes = compiler::emit_plan(*c, o, nullptr);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
  q.bytes = std::move(*bytes);
  q.onnx_bytes = c->onnx_bytes;
  return q;
}

std::shared_ptr<const Plan> load(const std::vector<uint8_t>& bytes) {
  auto p = Plan::load_memory(bytes.data(), bytes.size(), kLoadCopy);
  REQUIRE_MESSAGE(p.is_ok(), p.status().message());
  return *p;
}

test::HostTensor random_input(Shape s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  test::HostTensor t(DType::Float32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

}  // namespace

TEST_CASE("quantizing a CNN: int8 plan close to fp32 and under 0.3x the ONNX file") {
  const std::string model = data_path("tests/quant/data/quant_net.onnx");
  // No error budget: with random weights, logits are near ties and a class flip on one of 128
  // samples would already exceed the default budget (that path is tested below).
  compiler::quant::QuantizeOptions qo;
  qo.max_drop = -1;
  for (bool layout : {true, false}) {
  CAPTURE(layout);
  Quantized q = quantize(model, "image=4x3x8x8", 128, qo, layout);
  auto plan8 = load(q.bytes);
  // With the layout pass every int8 Conv is channels_last (and none without it).
  int convs = 0, channels_last = 0;
  for (const NodeDesc& n : plan8->nodes())
    if (n.op == OpType::Conv) {
      ++convs;
      channels_last += static_cast<const fb::ConvOptionsT*>(n.options.value)->channels_last;
    }
  CHECK(convs > 0);
  CHECK(channels_last == (layout ? convs : 0));
  auto fp32 = test::compile_onnx(model, {"image=4x3x8x8"});
  REQUIRE(fp32.is_ok());
  // Every Conv and Gemm ran in int8, with int8 weights carrying per-channel scales.
  int int8_weights = 0, quantize_nodes = 0;
  for (const NodeDesc& n : plan8->nodes()) {
    if (n.op == OpType::Conv || n.op == OpType::Gemm) {
      const TensorDesc& w = plan8->tensors()[static_cast<size_t>(n.inputs[1])];
      CHECK(w.dtype == DType::Int8);
      CHECK(w.has_quant);
      CHECK(w.scales.size() > 1);
      int8_weights++;
    }
    quantize_nodes += n.op == OpType::QuantizeLinear;
  }
  CHECK(int8_weights == 4);
  CHECK(quantize_nodes == 1);  // only the graph input: the whole network stays int8 inside
  CHECK(q.report.int8_nodes >= 5);
  // Weights: int8 plus int32 biases and per-channel scales, under 0.3x their fp32 bytes; the whole
  // file (FlatBuffer, alignment) within a few percent of that against the ONNX file.
  CHECK(static_cast<double>(plan8->total_constant_bytes()) < 0.3 * static_cast<double>(fp32->plan->total_constant_bytes()));
  CHECK(static_cast<double>(q.bytes.size()) < 0.32 * static_cast<double>(q.onnx_bytes));
  // Held-out inputs (not the calibration samples), on the reference and the default backend.
  for (const char* backend : {"reference", "auto"}) {
    CAPTURE(backend);
    auto x = random_input(Shape{4, 3, 8, 8}, 99);
    auto want = test::run_plan(fp32->plan, {x}, "reference");
    auto got = test::run_plan(plan8, {x}, backend);
    REQUIRE(want.is_ok());
    REQUIRE_MESSAGE(got.is_ok(), got.status().message());
    double db = sqnr_db((*want)[0], (*got)[0]);
    CAPTURE(db);
    CHECK(db > 30.0);
  }
  CHECK(q.report.sqnr_db > 30.0);
  }
}

TEST_CASE("the small CNN of the CLI tests quantizes, keeping its LayerNorm in fp32 (its HardSwish is an int8 table)") {
  Quantized q = quantize(data_path("tests/data/small_cnn.onnx"), "image=2x3x17x15", 64);
  auto plan8 = load(q.bytes);
  auto fp32 = test::compile_onnx(data_path("tests/data/small_cnn.onnx"), {"image=2x3x17x15"});
  REQUIRE(fp32.is_ok());
  bool has_dequant = false, ln_float = false;
  for (const NodeDesc& n : plan8->nodes()) {
    has_dequant |= n.op == OpType::DequantizeLinear;
    if (n.op == OpType::LayerNormalization) ln_float = plan8->tensors()[static_cast<size_t>(n.outputs[0])].dtype == DType::Float32;
  }
  CHECK(has_dequant);
  CHECK(ln_float);
  auto x = test::load_npy(data_path("tests/data/small_cnn_input.npy"));
  REQUIRE(x.is_ok());
  auto want = test::run_plan(fp32->plan, {*x}, "reference");
  auto got = test::run_plan(plan8, {*x}, "reference");
  REQUIRE(want.is_ok());
  REQUIRE(got.is_ok());
  CHECK(sqnr_db((*want)[0], (*got)[0]) > 25.0);
}

TEST_CASE("Conv + SiLU quantizes to an int8 Conv and an int8 Activation table, no Q/DQ between them") {
  // x -> Conv -> x*sigmoid(x) (fused to SiLU, fused into the Conv, split off again for int8) ->
  // Conv -> y: with no budget everything is int8 inside; the only Q/DQ are at the graph's edges.
  test::OnnxBuilder b(13);
  std::string x = b.input("image", {2, 3, 8, 8});
  using A = test::OnnxBuilder::Attr;
  std::string c1 = b.node("Conv", {x, b.random({8, 3, 3, 3}), b.random({8})}, {A::list("kernel_shape", {3, 3}), A::list("pads", {1, 1, 1, 1})});
  std::string s1 = b.node("Mul", {c1, b.node("Sigmoid", {c1})});
  std::string c2 = b.node("Conv", {s1, b.random({4, 8, 1, 1}), b.random({4})}, {A::list("kernel_shape", {1, 1})});
  b.output(c2, 4);
  const std::string model = b.save("quant_conv_silu");
  compiler::quant::QuantizeOptions qo;
  qo.max_drop = -1;
  Quantized q = quantize(model, "image=2x3x8x8", 64, qo);
  auto plan8 = load(q.bytes);
  int int8_silu = 0, quantize_nodes = 0, dequantize_nodes = 0;
  for (const NodeDesc& n : plan8->nodes()) {
    quantize_nodes += n.op == OpType::QuantizeLinear;
    dequantize_nodes += n.op == OpType::DequantizeLinear;
    if (n.op == OpType::Activation) {
      CHECK(plan8->tensors()[static_cast<size_t>(n.inputs[0])].dtype == DType::Int8);
      CHECK(plan8->tensors()[static_cast<size_t>(n.outputs[0])].dtype == DType::Int8);
      int8_silu++;
    }
  }
  CHECK(int8_silu == 1);
  CHECK(quantize_nodes == 1);    // the graph input
  CHECK(dequantize_nodes == 1);  // the graph output
  auto fp32 = test::compile_onnx(model, {"image=2x3x8x8"});
  REQUIRE(fp32.is_ok());
  for (const char* backend : {"reference", "auto"}) {
    CAPTURE(backend);
    auto in = random_input(Shape{2, 3, 8, 8}, 7);
    auto want = test::run_plan(fp32->plan, {in}, "reference");
    auto got = test::run_plan(plan8, {in}, backend);
    REQUIRE(want.is_ok());
    REQUIRE_MESSAGE(got.is_ok(), got.status().message());
    CHECK(sqnr_db((*want)[0], (*got)[0]) > 20.0);  // random weights, 4 outputs: ~24 dB
  }
  std::remove(model.c_str());
}

TEST_CASE("channels-last int8: Conv, AveragePool, MaxPool and GlobalAveragePool (as ReduceMean) quantize in NHWC form") {
  // x -> Conv 3x3 s2 -> Relu -> AveragePool 3x3 s1 p1 -> MaxPool 2x2 -> depthwise Conv -> Add ->
  // GlobalAveragePool -> Flatten -> Gemm: one layout region, all int8 after the layout pass.
  test::OnnxBuilder b(13);
  std::string x = b.input("image", {1, 3, 17, 15});
  using A = test::OnnxBuilder::Attr;
  std::string c1 = b.node("Relu", {b.node("Conv", {x, b.random({24, 3, 3, 3}), b.random({24})},
                                          {A::list("kernel_shape", {3, 3}), A::list("strides", {2, 2}), A::list("pads", {1, 1, 1, 1})})});
  std::string ap = b.node("AveragePool", {c1}, {A::list("kernel_shape", {3, 3}), A::list("pads", {1, 1, 1, 1})});
  std::string mp = b.node("MaxPool", {ap}, {A::list("kernel_shape", {2, 2}), A::list("strides", {2, 2})});
  std::string dw = b.node("Conv", {mp, b.random({24, 1, 3, 3}), b.random({24})},
                          {A::list("kernel_shape", {3, 3}), A::list("pads", {1, 1, 1, 1}), A::i("group", 24)});
  std::string gp = b.node("GlobalAveragePool", {b.node("Add", {dw, mp})});
  std::string fc = b.node("Gemm", {b.node("Flatten", {gp}), b.random({10, 24}), b.random({10})}, {A::i("transB", 1)});
  b.output(fc, 2);
  const std::string model = b.save("quant_nhwc_pools");
  compiler::quant::QuantizeOptions qo;
  qo.max_drop = -1;
  Quantized q = quantize(model, "image=1x3x17x15", 64, qo);
  auto plan8 = load(q.bytes);
  int cl_convs = 0, cl_avg = 0, cl_max = 0, reduce_mean = 0;
  for (const NodeDesc& n : plan8->nodes()) {
    const bool int8_in = plan8->tensors()[static_cast<size_t>(n.inputs[0])].dtype == DType::Int8;
    if (n.op == OpType::Conv) cl_convs += int8_in && static_cast<const fb::ConvOptionsT*>(n.options.value)->channels_last;
    if (n.op == OpType::AveragePool) cl_avg += int8_in && static_cast<const fb::PoolOptionsT*>(n.options.value)->channels_last;
    if (n.op == OpType::MaxPool) cl_max += int8_in && static_cast<const fb::PoolOptionsT*>(n.options.value)->channels_last;
    if (n.op == OpType::ReduceMean) reduce_mean += int8_in && plan8->tensors()[static_cast<size_t>(n.outputs[0])].dtype == DType::Int8;
  }
  CHECK(cl_convs == 2);
  CHECK(cl_avg == 1);
  CHECK(cl_max == 1);
  CHECK(reduce_mean == 1);
  auto fp32 = test::compile_onnx(model, {"image=1x3x17x15"});
  REQUIRE(fp32.is_ok());
  auto in = random_input(Shape{1, 3, 17, 15}, 12);
  auto want = test::run_plan(fp32->plan, {in}, "reference");
  REQUIRE(want.is_ok());
  std::vector<uint8_t> outs[2];
  int i = 0;
  for (const char* backend : {"reference", "auto"}) {
    CAPTURE(backend);
    auto got = test::run_plan(plan8, {in}, backend);
    REQUIRE_MESSAGE(got.is_ok(), got.status().message());
    CHECK(sqnr_db((*want)[0], (*got)[0]) > 20.0);
    outs[i++] = (*got)[0].bytes;
  }
  CHECK(outs[0] == outs[1]);  // the int8 kernels are bit-exact, the float tail (dequantize) too
  std::remove(model.c_str());
}

TEST_CASE("every calibration method and per-tensor weights give a working plan; the budget backs off layers") {
  const std::string model = data_path("tests/quant/data/quant_net.onnx");
  using compiler::quant::Method;
  for (Method m : {Method::MinMax, Method::Percentile, Method::Mse, Method::Entropy, Method::Auto}) {
    compiler::quant::QuantizeOptions qo;
    qo.method = m;
    qo.per_channel = m != Method::MinMax;
    qo.max_drop = -1;  // all int8
    Quantized q = quantize(model, "image=2x3x8x8", 32, qo);
    std::string name = compiler::quant::method_name(m);
    CAPTURE(name);
    CHECK(q.report.fp32_by_sensitivity == 0);
    // KL-entropy clipping is the most aggressive on this small net (it clips post-Relu tails).
    CHECK(q.report.sqnr_db > (m == Method::Entropy ? 10.0 : 20.0));
    CHECK(q.report.layers.size() >= 5);
  }
  // An impossible budget (0 relative error... on a classifier: no sample may change class, and
  // SQNR can still be finite) must keep layers in fp32 in order of sensitivity until it holds or
  // none is left.
  compiler::quant::QuantizeOptions qo;
  qo.max_drop = 0.0;
  qo.method = Method::MinMax;
  qo.per_channel = false;
  Quantized q = quantize(model, "image=2x3x8x8", 64, qo);
  CHECK(q.report.drop <= 0.0 + 1e-9);
  for (const auto& l : q.report.layers)
    if (l.precision == "fp32") CHECK(l.reason.find("sensitive") != std::string::npos);
}

TEST_CASE("the quantizer's CPU executor: int8 nodes bit-exact with the reference kernels, float within rounding") {
  const std::string model = data_path("tests/quant/data/quant_net.onnx");
  for (bool layout : {true, false}) {
  CAPTURE(layout);
  compiler::CompileOptions o;
  o.model_path = model;
  o.input_shapes = {"image=2x3x8x8"};
  o.layout = layout;
  auto c = compiler::compile_graph(o);
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  using Ex = compiler::quant::GraphExecutor;
  auto x = random_input(Shape{2, 3, 8, 8}, 3);
  auto outputs = [&](const ir::Graph& g, Ex::Engine e) {
    Ex ex(g, e, 2);
    Status s = ex.run({static_cast<const void*>(x.bytes.data())});
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    std::vector<std::vector<uint8_t>> all;  // every node output's bytes
    for (const auto& n : g.nodes())
      for (const ir::Value* v : n->outputs)
        if (v) all.emplace_back(static_cast<const uint8_t*>(ex.data(v)), static_cast<const uint8_t*>(ex.data(v)) + v->bytes());
    return all;
  };
  auto compare = [&](const ir::Graph& g) {
    auto want = outputs(g, Ex::Engine::Reference), got = outputs(g, Ex::Engine::Cpu);
    REQUIRE(want.size() == got.size());
    size_t i = 0, int8_values = 0;
    for (const auto& n : g.nodes())
      for (const ir::Value* v : n->outputs) {
        if (!v) continue;
        CAPTURE(v->name);
        if (v->dtype == DType::Int8) {
          CHECK(want[i] == got[i]);
          ++int8_values;
        } else if (v->dtype == DType::Float32) {
          const float* a = reinterpret_cast<const float*>(want[i].data());
          const float* b = reinterpret_cast<const float*>(got[i].data());
          double m = 0, d = 0;
          for (size_t k = 0; k < want[i].size() / 4; ++k) m = std::max(m, std::fabs(double(a[k]))), d = std::max(d, std::fabs(double(a[k]) - b[k]));
          CHECK(d <= 1e-4 * std::max(m, 1.0));
        }
        ++i;
      }
    return int8_values;
  };
  CHECK(compare(*c->graph) == 0);  // the float graph
  auto calib = random_input(Shape{16, 3, 8, 8}, 4);
  compiler::quant::CalibrationSet cs =
      compiler::quant::float_calibration(std::vector<float>(calib.data<float>(), calib.data<float>() + calib.numel()), 3 * 8 * 8, 2);
  compiler::quant::QuantizeOptions qo;
  qo.max_drop = -1;
  compiler::quant::QuantizeReport rep;
  Status s = compiler::quant::quantize_compiled(*c, cs, qo, &rep);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  CHECK(compare(*c->graph) >= 5);  // the int8 graph: every int8 tensor identical
  }
}

TEST_CASE("--calib-labels: the budget becomes the top-1 accuracy drop; the labels are checked") {
  const std::string model = data_path("tests/quant/data/quant_net.onnx");
  compiler::quant::QuantizeOptions qo;
  qo.labels.assign(32, 0);
  for (size_t i = 0; i < qo.labels.size(); ++i) qo.labels[i] = static_cast<int64_t>(i % 3);
  Quantized q = quantize(model, "image=2x3x8x8", 32, qo);
  CHECK(q.report.drop_metric == "top-1 drop (labels) %");
  CHECK(q.report.drop <= 0.3 + 1e-9);
  // too few labels, or a class the model does not have: errors, not a silent disagreement budget
  compiler::CompileOptions o;
  o.model_path = model;
  o.input_shapes = {"image=2x3x8x8"};
  o.layout = false;
  for (int64_t bad : {int64_t{-1}, int64_t{1000}}) {
    auto c = compiler::compile_graph(o);
    REQUIRE(c.is_ok());
    compiler::quant::CalibrationSet cs = compiler::quant::float_calibration(std::vector<float>(4 * 3 * 8 * 8, 0.5f), 3 * 8 * 8, 2);
    compiler::quant::QuantizeOptions bo;
    bo.labels = bad < 0 ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0, 1, bad, 0};
    compiler::quant::QuantizeReport rep;
    Status s = compiler::quant::quantize_compiled(*c, cs, bo, &rep);
    CHECK_FALSE(s.is_ok());
    CHECK(s.message().find("--calib-labels") != std::string::npos);
  }
}

TEST_CASE("calibration sets are checked before any work") {
  namespace q = compiler::quant;
  auto missing = q::read_calibration("/nonexistent/calib.npy");
  CHECK_FALSE(missing.is_ok());
  CHECK(missing.status().message().find("does not exist") != std::string::npos);
  std::string dir = std::filesystem::temp_directory_path() / "tern_quant_empty_dir";
  std::filesystem::create_directories(dir);
  auto empty = q::read_calibration(dir);
  CHECK_FALSE(empty.is_ok());
  CHECK(empty.status().message().find("no .npy or .npz") != std::string::npos);
}

TEST_CASE("token-id models calibrate on integer arrays of the input's own dtype") {
  // ids int64 [2, 5] -> Gather(embedding) -> MatMul: a language model's front (Mamba's input_ids).
  namespace q = compiler::quant;
  test::OnnxBuilder b(13);
  std::string ids = b.input("ids", {2, 5}, onnx::TensorProto::INT64);
  std::string e = b.node("Gather", {b.random({10, 16}), ids});
  b.output(b.node("MatMul", {e, b.random({16, 8})}), 3);
  const std::string path = b.save("token_ids");
  compiler::CompileOptions o;
  o.model_path = path;
  auto c = compiler::compile_graph(o);
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  const std::string dir = std::filesystem::temp_directory_path();
  npy::Array good{DType::Int64, {8, 5}, {}};
  for (int64_t i = 0; i < 40; ++i) {
    const int64_t v = (i * 7) % 10;
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    good.data.insert(good.data.end(), p, p + 8);
  }
  REQUIRE(npy::save(dir + "/tern_ids_calib.npy", good).is_ok());
  auto raw = q::read_calibration(dir + "/tern_ids_calib.npy");
  REQUIRE_MESSAGE(raw.is_ok(), raw.status().message());
  auto bound = q::bind_calibration(*raw, *c->graph, 512);
  REQUIRE_MESSAGE(bound.is_ok(), bound.status().message());
  CHECK(bound->count == 8);
  q::QuantizeOptions qo;
  qo.max_drop = -1;
  q::QuantizeReport rep;
  Status s = q::quantize_compiled(*c, *bound, qo, &rep);
  CHECK_MESSAGE(s.is_ok(), s.message());
  // Float data for the int64 input: an error naming both dtypes, before any work.
  npy::Array wrong{DType::Float32, {8, 5}, std::vector<uint8_t>(8 * 5 * 4, 0)};
  REQUIRE(npy::save(dir + "/tern_ids_calib_f.npy", wrong).is_ok());
  auto raw_f = q::read_calibration(dir + "/tern_ids_calib_f.npy");
  REQUIRE(raw_f.is_ok());
  auto c2 = compiler::compile_graph(o);
  REQUIRE(c2.is_ok());
  auto bad = q::bind_calibration(*raw_f, *c2->graph, 512);
  CHECK_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("is float32 but input 'ids' is int64") != std::string::npos);
  std::remove(path.c_str());
  std::remove((dir + "/tern_ids_calib.npy").c_str());
  std::remove((dir + "/tern_ids_calib_f.npy").c_str());
}

TEST_CASE("a self-attention block quantizes to an int8 Attention fed by int8 Split / Gather / Reshape / Transpose, with or without a constant bias") {
  // x -> MatMul (qkv) -> Split -> Reshape/Transpose per head (or, variant 2, MobileViT's Reshape ->
  // Transpose -> Gather) -> softmax(q k^T * c [+ bias]) v -> MatMul. The bias: variant 1 a constant
  // mask [1, 1, 1, 8] (int8, with an int32 bias), variant 3 a constant [H, L, L] (EfficientFormer's
  // attention biases; int8), variant 4 computed from the input (fp32), variant 5 a constant with
  // -1e9 entries, beyond the int8 score range (fp32, reported so).
  for (int variant = 0; variant < 6; ++variant) {
    const bool gather = variant == 2, biased = variant == 1 || variant >= 3;
    const bool int8 = variant <= 3;
    CAPTURE(variant);
    test::OnnxBuilder b(17);
    using A = test::OnnxBuilder::Attr;
    std::string x = b.input("tokens", {1, 8, 16});
    std::string qkv = b.node("MatMul", {x, b.random({16, 48}, -0.5f, 0.5f)});
    std::string q, kt, v;
    if (gather) {  // [1, 8, 3, 2, 8] -> [3, 1, 2, 8, 8] -> Gather(i) on axis 0
      std::string t = b.node("Transpose", {b.node("Reshape", {qkv, b.ints({1, 8, 3, 2, 8})})}, {A::list("perm", {2, 0, 3, 1, 4})});
      auto pick = [&](int64_t i) {
        return b.node("Reshape", {b.node("Gather", {t, b.ints({i})}, {A::i("axis", 0)}), b.ints({1, 2, 8, 8})});
      };
      q = pick(0);
      kt = b.node("Transpose", {pick(1)}, {A::list("perm", {0, 1, 3, 2})});
      v = pick(2);
    } else {
      const std::string split = b.node("Split", {qkv, b.ints({16, 16, 16})}, {A::i("axis", -1)}, 3);
      const int first = std::stoi(split.substr(1));
      auto head = [&](int i, std::vector<int64_t> perm) {
        std::string part = "v" + std::to_string(first + i);
        return b.node("Transpose", {b.node("Reshape", {part, b.ints({1, 8, 2, 8})})}, {A::list("perm", perm)});
      };
      q = head(0, {0, 2, 1, 3});
      kt = head(1, {0, 2, 3, 1});
      v = head(2, {0, 2, 1, 3});
    }
    std::string s = b.node("MatMul", {b.node("Mul", {q, b.scalar(0.35355339f)}), kt});
    if (variant == 1) s = b.node("Add", {s, b.random({1, 1, 1, 8}, -2, 0)});
    std::vector<float> bias_vals(128);  // variant 3's [2, 8, 8]
    for (size_t i = 0; i < bias_vals.size(); ++i) bias_vals[i] = 1.5f * std::sin(0.7f * static_cast<float>(i));
    if (variant == 3) s = b.node("Add", {s, b.init({2, 8, 8}, bias_vals)});
    if (variant == 4) s = b.node("Add", {s, b.node("Tanh", {b.node("MatMul", {x, b.random({16, 8}, -0.5f, 0.5f)})})});
    if (variant == 5) {
      std::vector<float> mask(64);
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 8 > i / 8 ? -1e9f : 0.0f;  // causal
      s = b.node("Add", {s, b.init({1, 1, 8, 8}, mask)});
    }
    std::string o = b.node("MatMul", {b.node("Softmax", {s}, {A::i("axis", -1)}), v});
    std::string merged = b.node("Reshape", {b.node("Transpose", {o}, {A::list("perm", {0, 2, 1, 3})}), b.ints({1, 8, 16})});
    b.output(b.node("MatMul", {merged, b.random({16, 16}, -0.5f, 0.5f)}), 3);
    const std::string model = b.save("quant_attention_" + std::to_string(variant));
    compiler::quant::QuantizeOptions qo;
    qo.max_drop = -1;
    Quantized qz = quantize(model, "tokens=1x8x16", 64, qo);
    auto plan8 = load(qz.bytes);
    int attention = 0, int8_split = 0, int8_gather = 0;
    for (const NodeDesc& n : plan8->nodes()) {
      const DType in0 = plan8->tensors()[static_cast<size_t>(n.inputs[0])].dtype;
      if (n.op == OpType::Attention) {
        ++attention;
        REQUIRE(n.inputs.size() == static_cast<size_t>(biased ? 4 : 3));
        for (size_t i = 0; i < 3; ++i) CHECK(plan8->tensors()[static_cast<size_t>(n.inputs[i])].dtype == (int8 ? DType::Int8 : DType::Float32));
        CHECK(plan8->tensors()[static_cast<size_t>(n.outputs[0])].dtype == (int8 ? DType::Int8 : DType::Float32));
        if (biased) {
          const auto& bt = plan8->tensors()[static_cast<size_t>(n.inputs[3])];
          CHECK(bt.dtype == (int8 ? DType::Int32 : DType::Float32));
          CHECK(bt.storage == (variant == 4 ? fb::Storage::Arena : fb::Storage::Constant));
        }
        if (variant == 3) {  // B = round(b / (s_q s_k scale)), that step recorded as its scale
          const auto& bt = plan8->tensors()[static_cast<size_t>(n.inputs[3])];
          const auto& tq = plan8->tensors()[static_cast<size_t>(n.inputs[0])];
          const auto& tk = plan8->tensors()[static_cast<size_t>(n.inputs[1])];
          const float scale = static_cast<const fb::AttentionOptionsT*>(n.options.value)->scale;
          const double step = static_cast<double>(tq.scales.at(0)) * tk.scales.at(0) * scale;
          REQUIRE(bt.shape == Shape{2, 8, 8});
          REQUIRE(bt.scales.size() == 1);
          CHECK(bt.scales[0] == doctest::Approx(step).epsilon(1e-6));
          const auto* bq = static_cast<const int32_t*>(bt.const_data);
          for (size_t i = 0; i < bias_vals.size(); ++i) CHECK(std::fabs(bq[i] * step - bias_vals[i]) <= step * 0.5001);
        }
      }
      if (n.op == OpType::Split && in0 == DType::Int8) ++int8_split;
      if (n.op == OpType::Gather && in0 == DType::Int8) ++int8_gather;
    }
    CHECK(attention == 1);
    CHECK(int8_split == (gather ? 0 : 1));  // passthroughs: int8 either way
    CHECK(int8_gather == (gather ? 3 : 0));
    for (const auto& l : qz.report.layers)
      if (l.op == "Attention") {
        CHECK(l.precision == (int8 ? "int8" : "fp32"));
        if (variant == 5) CHECK(l.reason.find("bias") != std::string::npos);
      }
    qo.int8_attention = false;  // (what `--target vulkan` sets)
    auto plan_vk = load(quantize(model, "tokens=1x8x16", 64, qo).bytes);
    for (const NodeDesc& n : plan_vk->nodes())
      if (n.op == OpType::Attention) CHECK(plan_vk->tensors()[static_cast<size_t>(n.inputs[0])].dtype == DType::Float32);
    auto fp32 = test::compile_onnx(model, {"tokens=1x8x16"});
    REQUIRE(fp32.is_ok());
    // The int8 Attention costs little against the same plan with it in fp32 (the int8 MatMuls
    // around it dominate the error: random weights, 64 random calibration samples).
    for (const char* backend : {"reference", "auto"}) {
      CAPTURE(backend);
      auto in = random_input(Shape{1, 8, 16}, 9);
      auto want = test::run_plan(fp32->plan, {in}, "reference");
      auto got = test::run_plan(plan8, {in}, backend);
      auto got_f = test::run_plan(plan_vk, {in}, backend);
      REQUIRE(want.is_ok());
      REQUIRE_MESSAGE(got.is_ok(), got.status().message());
      REQUIRE_MESSAGE(got_f.is_ok(), got_f.status().message());
      const double q8 = sqnr_db((*want)[0], (*got)[0]), f32 = sqnr_db((*want)[0], (*got_f)[0]);
      MESSAGE("SQNR " << q8 << " dB with the int8 Attention, " << f32 << " dB with it in fp32");
      CHECK(q8 > 15.0);
      CHECK(q8 > f32 - 1.5);
    }
    std::remove(model.c_str());
  }
}

TEST_CASE("observers merged from parts of the samples equal one observer of all of them") {
  using compiler::quant::Method;
  using compiler::quant::Observer;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.5f, 2.0f);
  std::vector<float> x(3000);
  for (float& v : x) v = nd(rng);
  x[17] = 40.0f;  // an outlier, so that the methods clip differently
  Observer whole;
  whole.observe_range(x.data(), 3000);
  whole.observe_histogram(x.data(), 3000);
  // three parts, one of them empty, merged in an order other than the samples'
  Observer part[3];
  part[1].observe_range(x.data(), 1000);
  part[0].observe_range(x.data() + 1000, 2000);
  Observer merged;
  for (const Observer& p : part) merged.merge_range(p);
  CHECK(merged.min() == whole.min());
  CHECK(merged.max() == whole.max());
  Observer hpart[3] = {merged, merged, merged};
  hpart[2].observe_histogram(x.data(), 1500);
  hpart[0].observe_histogram(x.data() + 1500, 1500);
  for (const Observer& p : hpart) merged.merge_histogram(p);
  for (Method m : {Method::MinMax, Method::Percentile, Method::Mse, Method::Entropy, Method::Auto}) {
    float lo_w, hi_w, lo_m, hi_m;
    Method cw, cm;
    whole.range(m, &lo_w, &hi_w, &cw);
    merged.range(m, &lo_m, &hi_m, &cm);
    CAPTURE(compiler::quant::method_name(m));
    CHECK(lo_m == lo_w);
    CHECK(hi_m == hi_w);
    CHECK(cm == cw);
    CHECK(merged.mse(lo_w, hi_w) == whole.mse(lo_w, hi_w));
  }
}

TEST_CASE("the quantizer's plan and report do not depend on its thread count") {
  // Calibration, sensitivity and the budget's evaluations run on one executor per worker; the
  // merged observations, the reference outputs and every decision must be the same for any count
  // (a tight budget so that sensitivity, bisection, refinement and early stops all run).
  const std::string model = data_path("tests/quant/data/quant_net.onnx");
  std::vector<Quantized> runs;
  for (int threads : {1, 2, 3}) {
    compiler::quant::QuantizeOptions qo;
    qo.threads = threads;
    qo.max_drop = 0.0;
    qo.per_channel = false;  // (the default method, auto, reads the histograms)
    runs.push_back(quantize(model, "image=4x3x8x8", 512, qo));
  }
  REQUIRE(runs[0].report.fp32_by_sensitivity > 0);  // the search ran
  for (size_t r = 1; r < runs.size(); ++r) {
    CAPTURE(r);
    CHECK(runs[r].bytes == runs[0].bytes);
    CHECK(runs[r].report.sqnr_db == runs[0].report.sqnr_db);
    REQUIRE(runs[r].report.layers.size() == runs[0].report.layers.size());
    for (size_t i = 0; i < runs[0].report.layers.size(); ++i) {
      const auto &a = runs[0].report.layers[i], &b = runs[r].report.layers[i];
      CHECK(a.precision == b.precision);
      CHECK(a.reason == b.reason);
      CHECK(a.lo == b.lo);
      CHECK(a.hi == b.hi);
      CHECK((a.sqnr_db == b.sqnr_db || (std::isnan(a.sqnr_db) && std::isnan(b.sqnr_db))));
    }
  }
}
