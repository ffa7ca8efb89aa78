// The fusion passes (compiler/passes/fuse_*.cpp): every pattern on a small ONNX graph written the
// way exporters write it, and every zoo model end to end.
//
// Each case compiles the same ONNX file twice (fused, and with CompileOptions::fuse = false),
// runs both plans on the reference backend and requires the same outputs within fp32 tolerance,
// and checks what the fused plan holds (the fused op present, the decomposed ops gone) and what
// the passes reported. Negative cases check that a pattern whose intermediate value has another
// reader, or is a graph output, is left alone.
#include <doctest/doctest.h>

// GCC 12's libstdc++ reports -Wrestrict false positives on std::string concatenation at -O3 (as in
// compiler/CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "compiler.h"
#include "compiler/onnx_builder.h"
#include "ops/op_defs.h"
#include "plan/plan.h"
#include "support/pipeline.h"

namespace tern::test {
namespace {

struct Built {
  std::vector<uint8_t> bytes;
  std::shared_ptr<const Plan> plan;
  std::map<std::string, int> ops;       // op name -> count
  std::map<std::string, int> passes;    // pass name -> total count
  std::map<std::string, int> activations;  // fused activation kinds on Conv/Gemm/MatMul/Activation
};

// `layout`: also run the CPU layout pass (passes/layout.cpp), as `tern compile` does; the pattern
// tests leave it out so that they see the fusion passes alone.
Built compile(const std::string& path, bool fuse, const std::vector<std::string>& shapes = {}, bool layout = false) {
  compiler::CompileOptions o;
  o.model_path = path;
  o.input_shapes = shapes;
  o.fuse = fuse;
  o.layout = layout;
  auto c = compiler::compile_graph(o);
  REQUIRE_MESSAGE(c.is_ok(), c.status().message());
  auto bytes = compiler::emit_plan(*c, o, nullptr);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
  Built b;
  b.bytes = std::move(*bytes);
  auto p = Plan::load_memory(b.bytes.data(), b.bytes.size(), kLoadCopy);
  REQUIRE_MESSAGE(p.is_ok(), p.status().message());
  b.plan = *p;
  for (const auto& n : b.plan->nodes()) {
    b.ops[ops::op_name(n.op)]++;
    fb::Activation a = fb::Activation::None;
    if (n.op == OpType::Conv) a = static_cast<const fb::ConvOptionsT*>(n.options.value)->activation;
    if (n.op == OpType::Gemm) a = static_cast<const fb::GemmOptionsT*>(n.options.value)->activation;
    if (n.op == OpType::MatMul) a = static_cast<const fb::MatMulOptionsT*>(n.options.value)->activation;
    if (n.op == OpType::Activation) a = static_cast<const fb::ActivationOptionsT*>(n.options.value)->activation;
    if (a != fb::Activation::None) b.activations[fb::EnumNameActivation(a)]++;
  }
  const auto* md = b.plan->flatbuffer()->metadata();
  if (md && md->passes())
    for (const auto* r : *md->passes()) b.passes[r->name()->str()] += static_cast<int>(r->count());
  return b;
}

int count(const std::map<std::string, int>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

double max_rel_diff(const HostTensor& a, const HostTensor& b) {
  double mx = 0, ref = 1;
  for (int64_t i = 0; i < b.numel(); ++i) ref = std::max(ref, std::fabs(double(b.f(i))));
  for (int64_t i = 0; i < b.numel(); ++i) {
    double d = std::fabs(double(a.f(i)) - double(b.f(i)));
    if (std::isnan(d)) return INFINITY;
    mx = std::max(mx, d);
  }
  return mx / ref;
}

std::vector<HostTensor> run(const Built& b, const std::vector<HostTensor>& inputs) {
  auto r = run_plan(b.plan, inputs, "reference", 1);
  REQUIRE_MESSAGE(r.is_ok(), r.status().message());
  return std::move(*r);
}

// Compiles `path` fused and unfused, runs both on `inputs`, requires equal outputs (1e-5 relative
// to the largest magnitude) and returns the fused build.
Built fused_matches_unfused(const std::string& path, const std::vector<HostTensor>& inputs, double tol = 1e-5) {
  Built fused = compile(path, true), plain = compile(path, false);
  auto a = run(fused, inputs), b = run(plain, inputs);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].shape == b[i].shape);
    double d = max_rel_diff(a[i], b[i]);
    INFO("output " << i << " " << a[i].shape.str() << ": fused vs unfused max relative diff " << d);
    CHECK(d <= tol);
  }
  std::remove(path.c_str());
  return fused;
}

HostTensor rnd(Shape s, uint32_t seed, float lo = -2, float hi = 2) {
  std::mt19937 rng(seed);
  return random_f32(rng, s, lo, hi);
}

// x -> decomposed LayerNorm over the last axis (opset 13: ReduceMean axes as an attribute).
std::string layer_norm_graph(OnnxBuilder& b, const std::string& x, int64_t c, bool affine) {
  std::string m = b.node("ReduceMean", {x}, {OnnxBuilder::Attr::list("axes", {-1})});
  std::string d = b.node("Sub", {x, m});
  std::string p = b.node("Pow", {d, b.scalar(2)});
  std::string v = b.node("ReduceMean", {p}, {OnnxBuilder::Attr::list("axes", {-1})});
  std::string s = b.node("Sqrt", {b.node("Add", {v, b.scalar(1e-5f)})});
  std::string y = b.node("Div", {d, s});
  if (!affine) return y;
  return b.node("Add", {b.node("Mul", {y, b.random({c}, 0.5f, 1.5f)}), b.random({c})});
}

}  // namespace

TEST_CASE("fusion: decomposed LayerNorm becomes LayerNormalization") {
  for (bool affine : {true, false}) {
    OnnxBuilder b(13);
    std::string x = b.input("x", {2, 7, 33});
    b.output(layer_norm_graph(b, x, 33, affine), 3);
    Built f = fused_matches_unfused(b.save("ln"), {rnd(Shape{2, 7, 33}, 1, -3, 5)});
    CHECK(count(f.passes, "fuse-layernorm") == 1);
    CHECK(count(f.ops, "LayerNormalization") == 1);
    CHECK(count(f.ops, "ReduceMean") == 0);
    CHECK(f.plan->nodes().size() == 1);
  }
}

TEST_CASE("fusion: LayerNorm is not fused when an intermediate has another reader or is an output") {
  {
    OnnxBuilder b(13);
    std::string x = b.input("x", {3, 16});
    std::string m = b.node("ReduceMean", {x}, {OnnxBuilder::Attr::list("axes", {-1})});
    std::string d = b.node("Sub", {x, m});
    std::string p = b.node("Pow", {d, b.scalar(2)});
    std::string v = b.node("ReduceMean", {p}, {OnnxBuilder::Attr::list("axes", {-1})});
    std::string y = b.node("Div", {d, b.node("Sqrt", {b.node("Add", {v, b.scalar(1e-5f)})})});
    b.output(b.node("Add", {y, m}), 2);  // the mean is read again
    Built f = fused_matches_unfused(b.save("ln_shared"), {rnd(Shape{3, 16}, 2)});
    CHECK(count(f.passes, "fuse-layernorm") == 0);
    CHECK(count(f.ops, "LayerNormalization") == 0);
  }
  {
    OnnxBuilder b(13);
    std::string x = b.input("x", {3, 16});
    std::string m = b.node("ReduceMean", {x}, {OnnxBuilder::Attr::list("axes", {-1})});
    std::string d = b.node("Sub", {x, m});
    std::string p = b.node("Pow", {d, b.scalar(2)});
    std::string v = b.node("ReduceMean", {p}, {OnnxBuilder::Attr::list("axes", {-1})});
    b.output(b.node("Div", {d, b.node("Sqrt", {b.node("Add", {v, b.scalar(1e-5f)})})}), 2);
    b.output(v, 2);  // the variance is a graph output
    Built f = fused_matches_unfused(b.save("ln_output"), {rnd(Shape{3, 16}, 3)});
    CHECK(count(f.ops, "LayerNormalization") == 0);
  }
}

TEST_CASE("fusion: Mamba's RMSNorm becomes RMSNormalization") {
  OnnxBuilder b(17);
  std::string x = b.input("x", {2, 5, 48});
  std::string ms = b.node("ReduceMean", {b.node("Pow", {x, b.scalar(2)})}, {OnnxBuilder::Attr::list("axes", {-1})});
  std::string r = b.node("Div", {b.scalar(1), b.node("Sqrt", {b.node("Add", {ms, b.scalar(1e-5f)})})});
  b.output(b.node("Mul", {b.node("Mul", {x, r}), b.random({48}, 0.5f, 1.5f)}), 3);
  Built f = fused_matches_unfused(b.save("rms"), {rnd(Shape{2, 5, 48}, 4)});
  CHECK(count(f.passes, "fuse-rmsnorm") == 1);
  CHECK(count(f.ops, "RMSNormalization") == 1);
  CHECK(f.plan->nodes().size() == 1);
}

TEST_CASE("fusion: PyTorch's GroupNorm export becomes GroupNormalization") {
  for (int64_t groups : {1, 3}) {
    OnnxBuilder b(17);
    std::string x = b.input("x", {2, 6, 5, 7});
    std::string r = b.node("Reshape", {x, b.ints({2, groups, -1})});
    std::string in = b.node("InstanceNormalization", {r, b.init({groups}, std::vector<float>(size_t(groups), 1.0f)),
                                                     b.init({groups}, std::vector<float>(size_t(groups), 0.0f))},
                            {OnnxBuilder::Attr::fl("epsilon", 1e-5f)});
    std::string back = b.node("Reshape", {in, b.ints({2, 6, 5, 7})});
    b.output(b.node("Add", {b.node("Mul", {back, b.random({6, 1, 1}, 0.5f, 1.5f)}), b.random({6, 1, 1})}), 4);
    Built f = fused_matches_unfused(b.save("group_norm"), {rnd(Shape{2, 6, 5, 7}, 17, -3, 4)});
    CHECK(count(f.passes, "fuse-groupnorm") == 1);
    CHECK(count(f.ops, "GroupNormalization") == 1);
    CHECK(f.plan->nodes().size() == 1);
  }
}

TEST_CASE("fusion: Erf-GELU, tanh-GELU, SiLU and HardSwish become Activation") {
  const Shape s{3, 41};
  {  // PyTorch's erf GELU: (x * (erf(x / sqrt2) + 1)) * 0.5, and the (x * 0.5) * (...) order
    OnnxBuilder b(17);
    std::string x = b.input("x", {3, 41});
    std::string e = b.node("Add", {b.node("Erf", {b.node("Div", {x, b.scalar(1.4142135f)})}), b.scalar(1)});
    b.output(b.node("Mul", {b.node("Mul", {x, e}), b.scalar(0.5f)}), 2);
    std::string e2 = b.node("Add", {b.node("Erf", {b.node("Mul", {x, b.scalar(0.70710678f)})}), b.scalar(1)});
    b.output(b.node("Mul", {b.node("Mul", {x, b.scalar(0.5f)}), e2}), 2);
    Built f = fused_matches_unfused(b.save("gelu"), {rnd(s, 5, -5, 5)});
    CHECK(count(f.passes, "fuse-gelu") == 2);
    CHECK(count(f.activations, "GELU") == 2);
    CHECK(f.plan->nodes().size() == 2);
  }
  {  // tanh approximation
    OnnxBuilder b(17);
    std::string x = b.input("x", {3, 41});
    std::string cube = b.node("Pow", {x, b.scalar(3)});
    std::string inner = b.node("Add", {x, b.node("Mul", {cube, b.scalar(0.044715f)})});
    std::string t = b.node("Tanh", {b.node("Mul", {inner, b.scalar(0.7978845608f)})});
    b.output(b.node("Mul", {b.node("Mul", {x, b.scalar(0.5f)}), b.node("Add", {t, b.scalar(1)})}), 2);
    Built f = fused_matches_unfused(b.save("gelu_tanh"), {rnd(s, 6, -5, 5)});
    CHECK(count(f.activations, "GELUTanh") == 1);
    CHECK(f.plan->nodes().size() == 1);
  }
  {  // SiLU, and x * hardsigmoid(x), x * clip(x + 3, 0, 6) / 6
    OnnxBuilder b(17);
    std::string x = b.input("x", {3, 41});
    b.output(b.node("Mul", {x, b.node("Sigmoid", {x})}), 2);
    b.output(b.node("Mul", {x, b.node("HardSigmoid", {x}, {OnnxBuilder::Attr::fl("alpha", 1.0f / 6), OnnxBuilder::Attr::fl("beta", 0.5f)})}), 2);
    std::string c = b.node("Clip", {b.node("Add", {x, b.scalar(3)}), b.scalar(0), b.scalar(6)});
    b.output(b.node("Div", {b.node("Mul", {x, c}), b.scalar(6)}), 2);
    Built f = fused_matches_unfused(b.save("silu_hswish"), {rnd(s, 7, -6, 6)});
    CHECK(count(f.activations, "SiLU") == 1);
    CHECK(count(f.activations, "HardSwish") == 2);
    CHECK(f.plan->nodes().size() == 3);
  }
  {  // Sigmoid read twice: x * sigmoid(x) must stay apart
    OnnxBuilder b(17);
    std::string x = b.input("x", {3, 41});
    std::string sg = b.node("Sigmoid", {x});
    b.output(b.node("Add", {b.node("Mul", {x, sg}), sg}), 2);
    Built f = fused_matches_unfused(b.save("silu_shared"), {rnd(s, 8)});
    CHECK(count(f.passes, "fuse-silu") == 0);
  }
}

TEST_CASE("fusion: BatchNorm folds into Conv, activations fold into Conv/MatMul, MatMul+Add gets a bias") {
  OnnxBuilder b(17);
  std::string x = b.input("x", {1, 5, 9, 11});
  std::string conv = b.node("Conv", {x, b.random({6, 5, 3, 3}), b.random({6})},
                            {OnnxBuilder::Attr::list("pads", {1, 1, 1, 1}), OnnxBuilder::Attr::list("kernel_shape", {3, 3})});
  std::string bn = b.node("BatchNormalization", {conv, b.random({6}, 0.5f, 1.5f), b.random({6}), b.random({6}), b.random({6}, 0.5f, 2.f)});
  std::string act = b.node("Relu", {bn});
  // A standalone BN (input is a graph input's Relu) followed by a pointwise Conv: folds forward.
  std::string bn2 = b.node("BatchNormalization", {act, b.random({6}, 0.5f, 1.5f), b.random({6}), b.random({6}), b.random({6}, 0.5f, 2.f)});
  std::string conv2 = b.node("Conv", {bn2, b.random({4, 6, 1, 1})}, {OnnxBuilder::Attr::list("kernel_shape", {1, 1})});
  std::string flat = b.node("Reshape", {conv2, b.ints({1, 4 * 9 * 11})});
  std::string mm = b.node("MatMul", {flat, b.random({4 * 9 * 11, 7}, -0.1f, 0.1f)});
  std::string fc = b.node("Add", {b.random({7}), mm});
  b.output(b.node("Clip", {fc, b.scalar(-0.5f), b.scalar(0.5f)}), 2);
  Built f = fused_matches_unfused(b.save("conv_bn"), {rnd(Shape{1, 5, 9, 11}, 9)});
  CHECK(count(f.passes, "fold-batchnorm") == 2);
  CHECK(count(f.passes, "fuse-matmul-bias") == 1);
  CHECK(count(f.ops, "BatchNormalization") == 0);
  CHECK(count(f.activations, "Relu") == 1);
  CHECK(count(f.activations, "Clip") == 1);
  CHECK(f.plan->nodes().size() == 4);  // Conv, Conv, Reshape, MatMul
}

TEST_CASE("fusion: a per-channel constant Mul after Conv / MatMul folds into the weights (layer scale)") {
  OnnxBuilder b(17);
  std::string x = b.input("x", {1, 4, 6, 7});
  std::string conv = b.node("Conv", {x, b.random({5, 4, 1, 1}), b.random({5})}, {OnnxBuilder::Attr::list("kernel_shape", {1, 1})});
  std::string scaled = b.node("Mul", {b.random({5, 1, 1}), conv});
  std::string t = b.node("Reshape", {scaled, b.ints({1, 5, 42})});
  std::string mm = b.node("MatMul", {t, b.random({42, 3})});
  b.output(b.node("Mul", {mm, b.random({1, 1, 3})}), 3);
  b.output(b.node("Mul", {conv, b.scalar(2.0f)}), 4);  // conv is read twice: this Mul stays
  Built f = fused_matches_unfused(b.save("layer_scale"), {rnd(Shape{1, 4, 6, 7}, 16)});
  CHECK(count(f.passes, "fold-channel-scale") == 1);  // the MatMul's; the Conv's result has two readers
  CHECK(count(f.ops, "Mul") == 2);
}

TEST_CASE("fusion: a BatchNorm with no producer to fold into becomes Mul + Add") {
  OnnxBuilder b(17);
  std::string x = b.input("x", {2, 3, 4, 5});
  b.output(b.node("BatchNormalization", {x, b.random({3}, 0.5f, 1.5f), b.random({3}), b.random({3}), b.random({3}, 0.5f, 2.f)}), 4);
  Built f = fused_matches_unfused(b.save("bn_alone"), {rnd(Shape{2, 3, 4, 5}, 10)});
  CHECK(count(f.passes, "batchnorm-to-affine") == 1);
  CHECK(count(f.ops, "Mul") == 1);
  CHECK(count(f.ops, "Add") == 1);
}

TEST_CASE("fusion: scaled-dot-product attention becomes Attention") {
  // timm's form: Q scaled by a constant before Q @ K^T, no mask; and the BERT form: (Q @ K^T) / c
  // + mask, with K^T from a Transpose of [B, L, H, D].
  for (int variant = 0; variant < 2; ++variant) {
    OnnxBuilder b(17);
    std::string q = b.input("q", {1, 3, 7, 8});
    std::string k = b.input("k", variant == 0 ? std::vector<int64_t>{1, 3, 9, 8} : std::vector<int64_t>{1, 9, 3, 8});
    std::string v = b.input("v", {1, 3, 9, 5});
    std::string s;
    if (variant == 0) {
      std::string kt = b.node("Transpose", {k}, {OnnxBuilder::Attr::list("perm", {0, 1, 3, 2})});
      s = b.node("MatMul", {b.node("Mul", {q, b.scalar(0.35355339f)}), kt});
    } else {
      std::string kt = b.node("Transpose", {k}, {OnnxBuilder::Attr::list("perm", {0, 2, 3, 1})});
      s = b.node("Add", {b.node("Div", {b.node("MatMul", {q, kt}), b.scalar(2.828427f)}), b.random({1, 1, 1, 9}, -3, 0)});
    }
    b.output(b.node("MatMul", {b.node("Softmax", {s}, {OnnxBuilder::Attr::i("axis", -1)}), v}), 4);
    Shape ks = variant == 0 ? Shape{1, 3, 9, 8} : Shape{1, 9, 3, 8};
    Built f = fused_matches_unfused(b.save("sdpa"), {rnd(Shape{1, 3, 7, 8}, 11), rnd(ks, 12), rnd(Shape{1, 3, 9, 5}, 13)});
    CHECK(count(f.passes, "fuse-attention") == 1);
    CHECK(count(f.ops, "Attention") == 1);
    CHECK(count(f.ops, "Softmax") == 0);
    CHECK(count(f.ops, "MatMul") == 0);
    // variant 0: the Transpose of K is absorbed; variant 1 keeps a Transpose (to [B, H, D, L])
    CHECK(count(f.ops, "Transpose") == variant);
    CHECK(f.plan->nodes().size() == static_cast<size_t>(1 + variant));
  }
}

TEST_CASE("fusion: Reshape/Transpose chains shrink to at most Reshape-Transpose-Reshape") {
  {  // MobileViT v1 unfold: [1, C, H, W] -> patches [P, N, C]
    OnnxBuilder b(13);
    std::string x = b.input("x", {1, 6, 8, 10});
    std::string r1 = b.node("Reshape", {x, b.ints({6 * 4, 2, 5, 2})});
    std::string t1 = b.node("Transpose", {r1}, {OnnxBuilder::Attr::list("perm", {0, 2, 1, 3})});
    std::string r2 = b.node("Reshape", {t1, b.ints({1, 6, 20, 4})});
    std::string t2 = b.node("Transpose", {r2}, {OnnxBuilder::Attr::list("perm", {0, 3, 2, 1})});
    b.output(b.node("Reshape", {t2, b.ints({4, 20, -1})}), 3);
    Built f = fused_matches_unfused(b.save("unfold"), {rnd(Shape{1, 6, 8, 10}, 14)}, 0);
    CHECK(count(f.ops, "Transpose") == 1);
    CHECK(f.plan->nodes().size() == 3);
  }
  {  // Transpose pairs that cancel, and a Transpose that only moves a size-1 axis
    OnnxBuilder b(17);
    std::string x = b.input("x", {2, 3, 1, 5});
    std::string t1 = b.node("Transpose", {x}, {OnnxBuilder::Attr::list("perm", {0, 2, 3, 1})});
    std::string t2 = b.node("Transpose", {t1}, {OnnxBuilder::Attr::list("perm", {0, 3, 1, 2})});
    std::string y = b.node("Relu", {t2});
    b.output(b.node("Transpose", {y}, {OnnxBuilder::Attr::list("perm", {0, 2, 1, 3})}), 4);
    Built f = fused_matches_unfused(b.save("transposes"), {rnd(Shape{2, 3, 1, 5}, 15)}, 0);
    CHECK(count(f.ops, "Transpose") == 0);
    CHECK(f.plan->nodes().size() == 2);  // Relu, Reshape (the graph output keeps its node)
  }
}

TEST_CASE("layout: GroupNorm and MobileViT-v2 token mixing (Split, Softmax, ReduceSum, Expand) stay channels-last") {
  // Conv -> GroupNorm -> 1x1 Conv (qkv) -> Split -> Softmax over the tokens -> broadcast Mul ->
  // ReduceSum (keepdims) -> Expand -> Mul with Relu(v) -> 1x1 Conv, MobileViT v2's separable
  // attention on [N, C, P, T]: one channels-last region, so a Transpose only at its two ends.
  OnnxBuilder b(13);
  const int64_t c = 8, p = 4, t = 6;
  std::string x = b.input("x", {1, c, p, t});
  std::string h = b.node("Conv", {x, b.random({c, c, 3, 3}, -0.3f, 0.3f), b.random({c})}, {OnnxBuilder::Attr::list("pads", {1, 1, 1, 1})});
  std::string gn = b.node("InstanceNormalization", {b.node("Reshape", {h, b.ints({1, 1, -1})}), b.init({1}, {1.0f}), b.init({1}, {0.0f})},
                          {OnnxBuilder::Attr::fl("epsilon", 1e-5f)});
  std::string n = b.node("Add", {b.node("Mul", {b.node("Reshape", {gn, b.ints({1, c, p, t})}), b.random({c, 1, 1}, 0.5f, 1.5f)}), b.random({c, 1, 1})});
  std::string qkv = b.node("Conv", {n, b.random({1 + 2 * c, c, 1, 1}), b.random({1 + 2 * c})});
  std::string q = b.node("Split", {qkv, b.ints({1, c, c})}, {OnnxBuilder::Attr::i("axis", 1)}, 3);
  const std::string k = "v" + std::to_string(std::stoi(q.substr(1)) + 1), v = "v" + std::to_string(std::stoi(q.substr(1)) + 2);
  std::string scores = b.node("Softmax", {q}, {OnnxBuilder::Attr::i("axis", -1)});
  std::string ctx = b.node("ReduceSum", {b.node("Mul", {k, scores}), b.ints({-1})}, {OnnxBuilder::Attr::i("keepdims", 1)});
  std::string e = b.node("Expand", {ctx, b.ints({1, c, p, t})});
  std::string y = b.node("Conv", {b.node("Mul", {b.node("Relu", {v}), e}), b.random({c, c, 1, 1}), b.random({c})});
  b.output(y, 4);
  const std::string path = b.save("layout_axis_ops");
  const HostTensor in = rnd(Shape{1, c, p, t}, 31);
  Built nchw = compile(path, true, {}, false), nhwc = compile(path, true, {}, true);
  std::remove(path.c_str());
  auto a = run(nhwc, {in}), ref = run(nchw, {in});
  REQUIRE(a.size() == 1);
  const double d = max_rel_diff(a[0], ref[0]);
  INFO("channels-last vs channels-first max relative diff " << d);
  CHECK(d <= 1e-5);
  CHECK(count(nhwc.ops, "GroupNormalization") + count(nhwc.ops, "InstanceNormalization") == 1);
  CHECK(count(nhwc.ops, "Transpose") == 2);  // the graph input and output only
  bool gn_last = false;
  for (const auto& node : nhwc.plan->nodes())
    if (node.op == OpType::GroupNormalization || node.op == OpType::InstanceNormalization)
      gn_last = static_cast<const fb::NormOptionsT*>(node.options.value)->channels_last;
  CHECK(gn_last);
  // And on the CPU backend (its channels-last GroupNorm kernel, XNNPACK's NHWC convs).
  auto cpu = run_plan(nhwc.plan, {in}, "cpu", 1);
  REQUIRE_MESSAGE(cpu.is_ok(), cpu.status().message());
  CHECK(max_rel_diff((*cpu)[0], ref[0]) <= 1e-4);
}

TEST_CASE("layout: a spiking 1-D Conv stack keeps tern.LIF and Slice inside the channels-last region") {
  // Conv1d -> Slice (Mamba's causal trim of a padded conv) -> LIF (time = the conv's length axis)
  // -> pointwise Conv1d -> LIF -> Conv1d on [N, C, T]: with Slice and LIF in the region (axis /
  // time_axis 2 -> 1 on [N, T, C]) only the graph's input and output are transposed, where each
  // used to cost a pair.
  OnnxBuilder b(13);
  const int64_t c = 6, t = 40;
  std::string x = b.input("x", {2, c, t});
  auto lif = [&](const std::string& v) {
    return b.tern_node("LIF", {v}, {OnnxBuilder::Attr::fl("tau", 2.0f), OnnxBuilder::Attr::fl("v_threshold", 0.5f),
                                   OnnxBuilder::Attr::i("time_axis", 2)});
  };
  std::string conv = b.node("Conv", {x, b.random({c, c, 3}), b.random({c})}, {OnnxBuilder::Attr::list("pads", {2, 2})});
  std::string h = lif(b.node("Slice", {conv, b.ints({0}), b.ints({t}), b.ints({2})}));
  h = lif(b.node("Conv", {h, b.random({2 * c, c, 1}), b.random({2 * c})}));
  b.output(b.node("Conv", {h, b.random({c, 2 * c, 3}), b.random({c})}, {OnnxBuilder::Attr::list("pads", {2, 0})}), 3);
  const std::string path = b.save("layout_lif");
  const HostTensor in = rnd(Shape{2, c, t}, 33, -1.f, 2.f);
  Built nchw = compile(path, true, {}, false), nhwc = compile(path, true, {}, true);
  std::remove(path.c_str());
  auto a = run(nhwc, {in}), ref = run(nchw, {in});
  REQUIRE(a.size() == 1);
  CHECK(max_rel_diff(a[0], ref[0]) <= 1e-5);
  CHECK(count(nhwc.ops, "LIF") == 2);
  CHECK(count(nhwc.ops, "Slice") == 1);
  CHECK(count(nhwc.ops, "Transpose") == 2);
  for (const auto& node : nhwc.plan->nodes())
    if (node.op == OpType::LIF) CHECK(static_cast<const fb::LIFOptionsT*>(node.options.value)->time_axis == 1);
  auto cpu = run_plan(nhwc.plan, {in}, "cpu", 1);
  REQUIRE_MESSAGE(cpu.is_ok(), cpu.status().message());
  CHECK(max_rel_diff((*cpu)[0], ref[0]) <= 1e-5);
}

// ---- the zoo ---------------------------------------------------------------------------------

namespace {

std::vector<std::string> shapes_from_args(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> tokens, shapes;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) tokens.push_back(line);
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    if (tokens[i] == "--input-shape") shapes.push_back(tokens[++i]);
  return shapes;
}

using Counts = std::map<std::string, int>;
struct Expect {
  Counts passes, ops, activations;
  Counts passes_at_least;  // passes that also run after the layout pass
  Expect(Counts p, Counts o, Counts a, Counts at_least = {})
      : passes(std::move(p)), ops(std::move(o)), activations(std::move(a)), passes_at_least(std::move(at_least)) {}
};

void check_zoo_model(const std::string& name, const Expect& e) {
  const char* zoo = std::getenv("TERN_ZOO");
  REQUIRE_MESSAGE(zoo, "TERN_ZOO is not set (the CTest fixture models/export-zoo sets it)");
  const std::string dir = std::string(zoo) + "/" + name;
  std::ifstream mf(dir + "/meta.json");
  REQUIRE_MESSAGE(mf.good(), "no " << dir << "/meta.json: run /usr/bin/python3 models/export.py --out " << zoo);
  nlohmann::json meta = nlohmann::json::parse(mf);
  const auto shapes = shapes_from_args(dir + "/compile_args.txt");
  // As `tern compile` builds them (layout pass included), with and without fusion.
  Built fused = compile(dir + "/model.onnx", true, shapes, true), plain = compile(dir + "/model.onnx", false, shapes, true);
  std::vector<HostTensor> inputs, golden;
  for (const auto& in : meta["inputs"]) {
    auto t = load_npy(dir + "/" + in["file"].get<std::string>());
    REQUIRE_MESSAGE(t.is_ok(), t.status().message());
    inputs.push_back(std::move(*t));
  }
  for (const auto& out : meta["outputs"]) {
    auto t = load_npy(dir + "/" + out["file"].get<std::string>());
    REQUIRE_MESSAGE(t.is_ok(), t.status().message());
    golden.push_back(std::move(*t));
  }
  auto a = run(fused, inputs), b = run(plain, inputs);
  REQUIRE(a.size() == golden.size());
  REQUIRE(b.size() == golden.size());
  std::printf("  %-22s nodes %zu unfused -> %zu fused\n", name.c_str(), plain.plan->nodes().size(), fused.plan->nodes().size());
  for (size_t k = 0; k < golden.size(); ++k) {
    REQUIRE(a[k].shape == golden[k].shape);
    const double fg = max_rel_diff(a[k], golden[k]), ug = max_rel_diff(b[k], golden[k]), fu = max_rel_diff(a[k], b[k]);
    std::printf("  %-22s output %zu: fused vs golden %.3g, unfused vs golden %.3g, fused vs unfused %.3g\n", name.c_str(), k, fg, ug, fu);
    CHECK(fg <= 1e-4);
    CHECK(ug <= 1e-4);
    CHECK(fu <= 1e-4);
  }
  // Fewer nodes, except that a BatchNorm with nothing to fold into becomes two (Mul + Add).
  CHECK(fused.plan->nodes().size() <= plain.plan->nodes().size() + static_cast<size_t>(count(fused.passes, "batchnorm-to-affine")));
  for (const auto& [pass, n] : e.passes) {
    INFO("pass " << pass);
    CHECK(count(fused.passes, pass) == n);
  }
  for (const auto& [pass, n] : e.passes_at_least) {
    INFO("pass " << pass);
    CHECK(count(fused.passes, pass) >= n);
  }
  for (const auto& [op, n] : e.ops) {
    INFO("op " << op);
    CHECK(count(fused.ops, op) == n);
  }
  for (const auto& [act, n] : e.activations) {
    INFO("fused activation " << act);
    CHECK(count(fused.activations, act) == n);
  }
}

}  // namespace

TEST_CASE("fusion zoo: deit_tiny") {
  check_zoo_model("deit_tiny", {{{"fuse-attention", 12}, {"fuse-gelu", 12}, {"fuse-matmul-bias", 48}, {"fold-activations", 12}},
                                {{"Attention", 12}, {"LayerNormalization", 25}, {"Softmax", 0}, {"Erf", 0}},
                                {{"GELU", 12}}});
}
TEST_CASE("fusion zoo: efficientformer_l1") {
  check_zoo_model("efficientformer_l1", {{{"fuse-attention", 1}, {"fuse-gelu", 15}, {"fuse-matmul-bias", 4}, {"fold-channel-scale", 16}},
                                         {{"Attention", 1}, {"Erf", 0}, {"Softmax", 0}},
                                         {{"GELU", 15}, {"Relu", 2}}});
}
TEST_CASE("fusion zoo: lmuformer") {
  check_zoo_model("lmuformer", {{{"fuse-gelu", 1}, {"fuse-matmul-bias", 3}, {"batchnorm-to-affine", 4}},
                                {{"BatchNormalization", 0}, {"Erf", 0}},
                                {{"GELU", 1}, {"Relu", 7}}});
}
TEST_CASE("fusion zoo: mamba_small") {
  check_zoo_model("mamba_small", {{{"fuse-rmsnorm", 5}, {"fuse-silu", 4}}, {{"RMSNormalization", 5}, {"Sqrt", 0}, {"Sigmoid", 0}}, {{"SiLU", 4}}});
}
TEST_CASE("fusion zoo: mobilevit_v1_xxs") {
  check_zoo_model("mobilevit_v1_xxs", {{{"fuse-layernorm", 21}, {"fuse-attention", 9}, {"fuse-silu", 34}},
                                       {{"LayerNormalization", 21}, {"Attention", 9}, {"ReduceMean", 1}, {"Sigmoid", 0}, {"Softmax", 0}},
                                       {{"SiLU", 34}},
                                       {{"simplify-shuffles", 6}}});  // the 3 unfold and 3 fold chains
}
TEST_CASE("fusion zoo: mobilevit_v2_050") {
  check_zoo_model("mobilevit_v2_050", {{{"fuse-silu", 25}, {"fold-activations", 25}, {"fuse-groupnorm", 21}},
                                       {{"Sigmoid", 0}, {"GroupNormalization", 21}, {"InstanceNormalization", 0}},
                                       {{"SiLU", 25}}});
}
TEST_CASE("fusion zoo: nextvit_small_hybrid") {
  check_zoo_model("nextvit_small_hybrid", {{{"fuse-attention", 3}, {"fold-batchnorm", 9}, {"batchnorm-to-affine", 6}, {"fuse-matmul-bias", 12}},
                                           {{"Attention", 3}, {"BatchNormalization", 0}, {"Softmax", 0}},
                                           {{"Relu", 22}}});
}
TEST_CASE("fusion zoo: spiking_lmuformer") {
  check_zoo_model("spiking_lmuformer", {{{"fuse-matmul-bias", 3}, {"fold-batchnorm", 1}, {"batchnorm-to-affine", 6}}, {{"BatchNormalization", 0}}, {}});
}

}  // namespace tern::test
