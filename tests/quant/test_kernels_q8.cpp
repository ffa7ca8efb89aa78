// Every int8 reference kernel against the float kernel run on the dequantized operands: the int8
// result, dequantized, must be within one output quantization step of the float result (the
// accumulation is exact in int32; only the final requantization rounds). Weights are int8 per
// output channel, activations int8 per tensor with zero points, bias int32 (docs/quantization-scheme.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>
#include <string>

#include "core/quant.h"
#include "reference/kernel.h"
#include "reference/ops/attention_q8.h"
#include "support/harness.h"

using namespace tern;

namespace {

struct QT {
  DType dtype = DType::Float32;
  Shape shape;
  std::vector<uint8_t> bytes;
  std::vector<float> scale;
  std::vector<int64_t> zp;
  int axis = -1;
  QuantParams qp;
  TensorRef r;
  const TensorRef* ref() {
    r = {dtype, shape, bytes.data(), nullptr};
    if (!scale.empty()) {
      qp = {scale.data(), zp.data(), static_cast<int>(scale.size()), scale.size() > 1 ? axis : -1};
      r.quant = &qp;
    }
    return &r;
  }
  template <typename T> T* as() { return reinterpret_cast<T*>(bytes.data()); }
  int64_t n() const { return shape.numel(); }
  float sc(int64_t c) const { return scale.size() == 1 ? scale[0] : scale[static_cast<size_t>(c)]; }
};

std::deque<QT> g_pool;  // stable addresses for the refs of one test
QT& make(DType t, Shape s) {
  g_pool.emplace_back();
  QT& q = g_pool.back();
  q.dtype = t;
  q.shape = s;
  q.bytes.assign(static_cast<size_t>(s.numel()) * dtype_size(t), 0);
  return q;
}

std::vector<float> rnd(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// An activation, int8 per tensor over its range.
QT& act(const std::vector<float>& x, Shape s) {
  QT& q = make(DType::Int8, s);
  float lo = *std::min_element(x.begin(), x.end()), hi = *std::max_element(x.begin(), x.end());
  float sc;
  int32_t z;
  quant::choose_activation_params(lo, hi, &sc, &z);
  q.scale = {sc};
  q.zp = {z};
  for (int64_t i = 0; i < q.n(); ++i) q.as<int8_t>()[i] = quant::quantize_value(x[static_cast<size_t>(i)], sc, z);
  return q;
}

// Weights, int8 symmetric per channel along `axis`.
QT& weights(const std::vector<float>& w, Shape s, int axis) {
  QT& q = make(DType::Int8, s);
  int64_t ch = s[axis], inner = 1;
  for (int i = axis + 1; i < s.rank; ++i) inner *= s[i];
  std::vector<float> amax(static_cast<size_t>(ch), 0.f);
  for (int64_t i = 0; i < q.n(); ++i) amax[static_cast<size_t>((i / inner) % ch)] = std::max(amax[static_cast<size_t>((i / inner) % ch)], std::fabs(w[static_cast<size_t>(i)]));
  for (float a : amax) q.scale.push_back(quant::symmetric_scale(a));
  q.zp.assign(q.scale.size(), 0);
  q.axis = axis;
  for (int64_t i = 0; i < q.n(); ++i)
    q.as<int8_t>()[i] = static_cast<int8_t>(std::clamp(std::nearbyint(w[static_cast<size_t>(i)] / q.sc((i / inner) % ch)), -127.f, 127.f));
  return q;
}

QT& bias(const std::vector<float>& b, float s_in, const QT& w) {
  QT& q = make(DType::Int32, Shape{static_cast<int64_t>(b.size())});
  for (size_t c = 0; c < b.size(); ++c) {
    q.scale.push_back(s_in * w.sc(static_cast<int64_t>(c)));
    q.as<int32_t>()[c] = static_cast<int32_t>(std::nearbyint(b[c] / q.scale.back()));
  }
  q.zp.assign(q.scale.size(), 0);
  q.axis = 0;
  return q;
}

// The real values a quantized tensor stands for, as a float tensor.
QT& real(const QT& q, int64_t inner = 0) {
  QT& f = make(DType::Float32, q.shape);
  int64_t ch = q.scale.size() > 1 ? static_cast<int64_t>(q.scale.size()) : 1;
  if (!inner) {
    inner = 1;
    if (ch > 1)
      for (int i = q.axis + 1; i < q.shape.rank; ++i) inner *= q.shape[i];
  }
  for (int64_t i = 0; i < q.n(); ++i) {
    int64_t c = (i / inner) % ch;
    float v = q.dtype == DType::Int32 ? static_cast<float>(reinterpret_cast<const int32_t*>(q.bytes.data())[i])
                                      : static_cast<float>(reinterpret_cast<const int8_t*>(q.bytes.data())[i]);
    f.as<float>()[i] = q.sc(c) * (v - static_cast<float>(q.zp[static_cast<size_t>(c)]));
  }
  return f;
}

Status run(OpType op, const fb::NodeOptionsUnion& opts, std::vector<QT*> ins, QT& out) {
  std::vector<const TensorRef*> in;
  for (QT* q : ins) in.push_back(q ? q->ref() : nullptr);
  const TensorRef* o = out.ref();
  ref::KernelContext kc;
  kc.node_name = "test";
  kc.op = op;
  kc.options = &opts;
  kc.inputs = in;
  kc.outputs = {&o, 1};
  return ref::run_node_once(kc);
}

// Runs the float kernel on the real values of `qins` (float_ins replaces an operand where given),
// quantizes the output over the float result's range, runs the int8 kernel, and checks the two
// agree within one output step.
void check_q8(OpType op, const fb::NodeOptionsUnion& opts, std::vector<QT*> qins, std::vector<QT*> fins, Shape out_shape,
              const char* what) {
  CAPTURE(what);
  QT& fy = make(DType::Float32, out_shape);
  REQUIRE(run(op, opts, fins, fy).is_ok());
  std::vector<float> fv(fy.as<float>(), fy.as<float>() + fy.n());
  QT& qy = act(fv, out_shape);  // sets scale / zero point from the float result
  std::fill(qy.bytes.begin(), qy.bytes.end(), 0);
  Status s = run(op, opts, qins, qy);
  REQUIRE_MESSAGE(s.is_ok(), s.message());
  QT& back = real(qy);
  double worst = 0;
  for (int64_t i = 0; i < fy.n(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(back.as<float>()[i] - fy.as<float>()[i])));
  CAPTURE(qy.scale[0]);
  CHECK(worst <= qy.scale[0] * 1.001 + 1e-6);
  g_pool.clear();
}

fb::NodeOptionsUnion conv_opts(std::vector<int32_t> k, std::vector<int32_t> s, std::vector<int32_t> d, std::vector<int32_t> p, int group,
                               fb::Activation a = fb::Activation::None, float amin = 0, float amax = 0) {
  return tern::test::conv_options(std::move(k), std::move(s), std::move(d), std::move(p), group, a, amin, amax);
}

}  // namespace

TEST_CASE("int8 Conv matches float Conv on dequantized operands (groups, depthwise, stride, pads, dilation, Relu)") {
  std::mt19937 rng(11);
  struct Case {
    int64_t n, c, h, w, m, k;
    int group, stride, pad, dil;
    fb::Activation act;
    const char* name;
  } cases[] = {
      {1, 3, 9, 11, 8, 3, 1, 1, 1, 1, fb::Activation::None, "3x3 pad 1"},
      {2, 4, 10, 7, 6, 3, 2, 2, 1, 1, fb::Activation::Relu, "grouped stride 2 relu"},
      {1, 8, 7, 9, 8, 3, 8, 1, 1, 1, fb::Activation::None, "depthwise"},
      {1, 6, 8, 8, 12, 3, 6, 2, 1, 1, fb::Activation::Clip, "depthwise multiplier 2 stride 2 clip"},
      {1, 5, 6, 6, 7, 1, 1, 1, 0, 1, fb::Activation::None, "pointwise"},
      {1, 3, 12, 12, 4, 3, 1, 1, 2, 2, fb::Activation::Relu, "dilated"},
  };
  for (const Case& cs : cases) {
    Shape xs{cs.n, cs.c, cs.h, cs.w}, ws{cs.m, cs.c / cs.group, cs.k, cs.k};
    auto xv = rnd(rng, xs.numel(), -1.5f, 2.5f);
    auto wv = rnd(rng, ws.numel(), -0.7f, 0.7f);
    auto bv = rnd(rng, cs.m, -0.5f, 0.5f);
    // Channel 0 of the weights all zero: a scale of 1 must not disturb it.
    for (int64_t i = 0; i < ws.numel() / cs.m; ++i) wv[static_cast<size_t>(i)] = 0;
    QT& x = act(xv, xs);
    QT& w = weights(wv, ws, 0);
    QT& b = bias(bv, x.scale[0], w);
    auto o = conv_opts({static_cast<int32_t>(cs.k), static_cast<int32_t>(cs.k)}, {cs.stride, cs.stride}, {cs.dil, cs.dil},
                       {cs.pad, cs.pad, cs.pad, cs.pad}, cs.group, cs.act, -0.5f, 1.0f);
    int64_t span = cs.dil * (cs.k - 1) + 1;
    Shape ys{cs.n, cs.m, (cs.h + 2 * cs.pad - span) / cs.stride + 1, (cs.w + 2 * cs.pad - span) / cs.stride + 1};
    check_q8(OpType::Conv, o, {&x, &w, &b}, {&real(x), &real(w), &real(b)}, ys, cs.name);
  }
}

TEST_CASE("int8 Conv1d without bias") {
  std::mt19937 rng(12);
  Shape xs{2, 4, 13}, ws{5, 4, 3};
  QT& x = act(rnd(rng, xs.numel(), -1, 1), xs);
  QT& w = weights(rnd(rng, ws.numel(), -1, 1), ws, 0);
  auto o = conv_opts({3}, {1}, {1}, {1, 1}, 1);
  check_q8(OpType::Conv, o, {&x, &w, nullptr}, {&real(x), &real(w), nullptr}, Shape{2, 5, 13}, "conv1d");
}

TEST_CASE("int8 Gemm and MatMul match float on dequantized operands") {
  std::mt19937 rng(13);
  for (bool trans_b : {false, true}) {
    const int64_t m = 5, k = 17, n = 9;
    Shape as{m, k}, bs = trans_b ? Shape{n, k} : Shape{k, n};
    QT& a = act(rnd(rng, as.numel(), -2, 1), as);
    QT& b = weights(rnd(rng, bs.numel(), -0.5f, 0.5f), bs, trans_b ? 0 : 1);
    QT& c = bias(rnd(rng, n, -1, 1), a.scale[0], b);
    fb::NodeOptionsUnion u;
    auto* o = new fb::GemmOptionsT;
    o->trans_b = trans_b;
    o->activation = trans_b ? fb::Activation::Relu : fb::Activation::None;
    u.type = fb::NodeOptions::GemmOptions;
    u.value = o;
    check_q8(OpType::Gemm, u, {&a, &b, &c}, {&real(a), &real(b), &real(c)}, Shape{m, n}, trans_b ? "gemm trans_b relu" : "gemm");
  }
  {
    // MatMul with a constant weight matrix (per column) and a bias, batched A.
    Shape as{2, 3, 6, 10}, bs{10, 7};
    QT& a = act(rnd(rng, as.numel(), -1, 3), as);
    QT& b = weights(rnd(rng, bs.numel(), -1, 1), bs, 1);
    QT& c = bias(rnd(rng, 7, -1, 1), a.scale[0], b);
    fb::NodeOptionsUnion u;
    u.type = fb::NodeOptions::MatMulOptions;
    u.value = new fb::MatMulOptionsT;
    check_q8(OpType::MatMul, u, {&a, &b, &c}, {&real(a), &real(b), &real(c)}, Shape{2, 3, 6, 7}, "matmul weights");
  }
  {
    // MatMul of two activations (both with zero points), broadcast batch.
    Shape as{2, 4, 5, 8}, bs{4, 8, 6};
    QT& a = act(rnd(rng, as.numel(), -1, 2), as);
    QT& b = act(rnd(rng, bs.numel(), -3, 1), bs);
    fb::NodeOptionsUnion u;
    u.type = fb::NodeOptions::MatMulOptions;
    u.value = new fb::MatMulOptionsT;
    check_q8(OpType::MatMul, u, {&a, &b}, {&real(a), &real(b)}, Shape{2, 4, 5, 6}, "matmul activations");
  }
}

TEST_CASE("int8 Add, Sub, Mul with broadcasting; Relu and Clip") {
  std::mt19937 rng(14);
  fb::NodeOptionsUnion none;
  for (OpType op : {OpType::Add, OpType::Sub, OpType::Mul}) {
    Shape as{2, 3, 4, 5}, bs{3, 1, 5};
    QT& a = act(rnd(rng, as.numel(), -4, 1), as);
    QT& b = act(rnd(rng, bs.numel(), -0.1f, 0.3f), bs);  // very different scales
    check_q8(op, none, {&a, &b}, {&real(a), &real(b)}, as, "binary");
  }
  {
    Shape s{3, 7};
    QT& x = act(rnd(rng, s.numel(), -2, 3), s);
    check_q8(OpType::Relu, none, {&x}, {&real(x)}, s, "relu");
  }
  {
    Shape s{3, 7};
    QT& x = act(rnd(rng, s.numel(), -2, 3), s);
    fb::NodeOptionsUnion u;
    auto* o = new fb::ClipOptionsT;
    o->min = -0.5f;
    o->max = 1.5f;
    u.type = fb::NodeOptions::ClipOptions;
    u.value = o;
    check_q8(OpType::Clip, u, {&x}, {&real(x)}, s, "clip");
  }
}

TEST_CASE("int8 Activation / Sigmoid / Tanh / HardSwish tables are within half an output step of float") {
  // The table is quantize(f(dequantize(x))): nearest rounding of the exact value, so at most half
  // a step from the float kernel on the dequantized input (plus float-vs-double evaluation of f).
  std::mt19937 rng(15);
  const fb::Activation kinds[] = {fb::Activation::Sigmoid, fb::Activation::SiLU, fb::Activation::GELU, fb::Activation::GELUTanh,
                                  fb::Activation::HardSwish, fb::Activation::HardSigmoid, fb::Activation::Tanh};
  const float ranges[][2] = {{-8, 8}, {-3, 0.5f}, {0.1f, 6}};
  auto check_half = [](OpType op, const fb::NodeOptionsUnion& u, QT& x, Shape s, const std::string& what) {
    CAPTURE(what);
    QT& fx = real(x);
    QT& fy = make(DType::Float32, s);
    REQUIRE(run(op, u, {&fx}, fy).is_ok());
    std::vector<float> fv(fy.as<float>(), fy.as<float>() + fy.n());
    QT& qy = act(fv, s);
    std::fill(qy.bytes.begin(), qy.bytes.end(), 0);
    Status st = run(op, u, {&x}, qy);
    REQUIRE_MESSAGE(st.is_ok(), st.message());
    QT& back = real(qy);
    double worst = 0;
    for (int64_t i = 0; i < fy.n(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(back.as<float>()[i] - fy.as<float>()[i])));
    CAPTURE(qy.scale[0]);
    CHECK(worst <= 0.5 * qy.scale[0] * 1.001 + 1e-5);
    CHECK(worst > 0);  // really quantized
  };
  for (fb::Activation kind : kinds)
    for (const auto& r : ranges) {
      fb::NodeOptionsUnion u;
      auto* o = new fb::ActivationOptionsT;
      o->activation = kind;
      o->activation_min = kind == fb::Activation::HardSigmoid ? 0.2f : 0;
      o->activation_max = kind == fb::Activation::HardSigmoid ? 0.5f : 0;
      u.type = fb::NodeOptions::ActivationOptions;
      u.value = o;
      Shape s{4, 300};
      QT& x = act(rnd(rng, s.numel(), r[0], r[1]), s);
      check_half(OpType::Activation, u, x, s, std::string(fb::EnumNameActivation(kind)) + " " + std::to_string(r[0]));
      g_pool.clear();
    }
  fb::NodeOptionsUnion none;
  for (OpType op : {OpType::Sigmoid, OpType::Tanh, OpType::HardSwish}) {
    Shape s{4, 300};
    QT& x = act(rnd(rng, s.numel(), -5, 4), s);
    check_half(op, none, x, s, fb::EnumNameOpType(op));
    g_pool.clear();
  }
}

TEST_CASE("int8 average pooling; max pooling is exact with the input's quantization") {
  std::mt19937 rng(15);
  fb::NodeOptionsUnion none;
  for (bool include_pad : {false, true}) {
    Shape xs{2, 3, 9, 8};
    QT& x = act(rnd(rng, xs.numel(), -1, 2), xs);
    fb::NodeOptionsUnion u;
    auto* o = new fb::PoolOptionsT;
    o->kernel_shape = {3, 3};
    o->strides = {2, 2};
    o->dilations = {1, 1};
    o->pads = {1, 1, 1, 1};
    o->count_include_pad = include_pad;
    u.type = fb::NodeOptions::PoolOptions;
    u.value = o;
    check_q8(OpType::AveragePool, u, {&x}, {&real(x)}, Shape{2, 3, 5, 4}, include_pad ? "avgpool include pad" : "avgpool");
  }
  {
    Shape xs{2, 5, 6, 7};
    QT& x = act(rnd(rng, xs.numel(), -1, 2), xs);
    check_q8(OpType::GlobalAveragePool, none, {&x}, {&real(x)}, Shape{2, 5, 1, 1}, "global average pool");
  }
  {
    // MaxPool on int8: the max of the quantized values is the quantized max (monotonic mapping).
    Shape xs{1, 2, 6, 6};
    QT& x = act(rnd(rng, xs.numel(), -1, 2), xs);
    QT& y = make(DType::Int8, Shape{1, 2, 3, 3});
    y.scale = x.scale;
    y.zp = x.zp;
    fb::NodeOptionsUnion u;
    auto* o = new fb::PoolOptionsT;
    o->kernel_shape = {2, 2};
    o->strides = {2, 2};
    o->dilations = {1, 1};
    o->pads = {0, 0, 0, 0};
    u.type = fb::NodeOptions::PoolOptions;
    u.value = o;
    REQUIRE(run(OpType::MaxPool, u, {&x}, y).is_ok());
    const int8_t* px = x.as<int8_t>();
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const int8_t* p = px + c * 36 + i * 12 + j * 2;
          CHECK(y.as<int8_t>()[c * 9 + i * 3 + j] == std::max({p[0], p[1], p[6], p[7]}));
        }
    g_pool.clear();
  }
}

TEST_CASE("QuantizeLinear / DequantizeLinear round trip, per tensor and per channel") {
  std::mt19937 rng(16);
  fb::NodeOptionsUnion none;
  Shape s{2, 3, 4};
  auto xv = rnd(rng, s.numel(), -3, 5);
  QT& x = make(DType::Float32, s);
  std::copy(xv.begin(), xv.end(), x.as<float>());
  QT& q = make(DType::Int8, s);
  q.scale = {0.05f, 0.02f, 0.1f};
  q.zp = {-10, 0, 20};
  q.axis = 1;
  REQUIRE(run(OpType::QuantizeLinear, none, {&x}, q).is_ok());
  for (int64_t i = 0; i < s.numel(); ++i) {
    int64_t c = (i / 4) % 3;
    CHECK(q.as<int8_t>()[i] == quant::quantize_value(xv[static_cast<size_t>(i)], q.scale[static_cast<size_t>(c)], static_cast<int32_t>(q.zp[static_cast<size_t>(c)])));
  }
  QT& back = make(DType::Float32, s);
  REQUIRE(run(OpType::DequantizeLinear, none, {&q}, back).is_ok());
  for (int64_t i = 0; i < s.numel(); ++i) {
    int64_t c = (i / 4) % 3;
    float sc = q.scale[static_cast<size_t>(c)];
    float lo = sc * (-128 - q.zp[static_cast<size_t>(c)]), hi = sc * (127 - q.zp[static_cast<size_t>(c)]);
    float want = std::clamp(xv[static_cast<size_t>(i)], lo, hi);
    CHECK(std::fabs(back.as<float>()[i] - want) <= sc * 0.5f + 1e-6f);
  }
  // A missing Quantization is an error naming the node, not a crash.
  QT& bare = make(DType::Int8, s);
  Status st = run(OpType::QuantizeLinear, none, {&x}, bare);
  CHECK_FALSE(st.is_ok());
  CHECK(st.message().find("quantization parameters") != std::string::npos);
  g_pool.clear();
}

// int8 Attention (docs/quantization-scheme.md "int8 Attention"): the softmax row within its
// documented bound of the exact softmax, and the node within its bound of float Attention on the
// dequantized Q, K, V.
TEST_CASE("int8 Attention: probabilities and outputs within the documented error of float") {
  std::mt19937 rng(19);
  for (int64_t n : {1, 5, 16, 50, 197}) {
    for (float spread : {0.0f, 0.5f, 4.0f, 30.0f}) {
      CAPTURE(n);
      CAPTURE(spread);
      const float c256 = 0.01f;  // one score unit = 0.01 / 256 in the logit
      std::vector<int32_t> s(static_cast<size_t>(n)), e(s.size());
      std::vector<int16_t> p(s.size());
      std::uniform_real_distribution<float> u(-spread, spread);
      for (auto& v : s) v = static_cast<int32_t>(std::nearbyint(u(rng) * 256 / c256));
      ref::attq8::softmax_row(s.data(), n, c256, e.data(), p.data());
      const int32_t mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (int32_t v : s) sum += std::exp(-static_cast<double>(mx - v) * c256 / 256);
      double worst = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double exact = std::exp(-static_cast<double>(mx - s[static_cast<size_t>(j)]) * c256 / 256) / sum;
        const double err = std::fabs(p[static_cast<size_t>(j)] / double{ref::attq8::kProbMax} - exact);
        worst = std::max(worst, err - (0.5 / ref::attq8::kProbMax + 0.0041 * exact));
      }
      CHECK(worst <= 1e-6);
    }
  }
  // With a bias (Shape{} for none, else a constant float tensor broadcast to the logits, of values
  // in +-bias_spread, some set to -mask where mask > 0): B = round(b / (s_q s_k scale)) as
  // compiler/quant/rewrite.cpp makes it; the float op gets the original b.
  struct Case {
    Shape q, k, v;
    bool kt;
    float scale, spread;
    Shape b = {};
    float bias_spread = 0, mask = 0;
  };
  const Case cases[] = {{Shape{2, 3, 9, 16}, Shape{2, 3, 11, 16}, Shape{2, 3, 11, 8}, false, 0.25f, 1.0f},
                        {Shape{1, 2, 20, 64}, Shape{1, 2, 64, 30}, Shape{1, 2, 30, 64}, true, 0.125f, 1.5f},
                        {Shape{3, 7, 5}, Shape{1, 13, 5}, Shape{3, 13, 3}, false, 0.45f, 3.0f},
                        {Shape{1, 1, 6, 8}, Shape{1, 1, 6, 8}, Shape{1, 1, 6, 8}, false, 0.35f, 0.01f},
                        // [H, Lq, Lk] (EfficientFormer's attention biases), [1, H, Lq, Lk] with K^T
                        {Shape{2, 3, 9, 16}, Shape{2, 3, 11, 16}, Shape{2, 3, 11, 8}, false, 0.25f, 1.0f, Shape{3, 9, 11}, 1.5f},
                        {Shape{1, 2, 20, 64}, Shape{1, 2, 64, 30}, Shape{1, 2, 30, 64}, true, 0.125f, 1.5f, Shape{1, 2, 20, 30}, 1.0f},
                        // large against the scores (the bias decides), with mask-like -1000 entries
                        {Shape{1, 2, 12, 16}, Shape{1, 2, 17, 16}, Shape{1, 2, 17, 8}, false, 0.25f, 0.5f, Shape{2, 12, 17}, 12.0f, 1000.0f},
                        // one row for every query (b_is = 0), one column for every key (no effect)
                        {Shape{3, 7, 5}, Shape{1, 13, 5}, Shape{3, 13, 3}, false, 0.45f, 3.0f, Shape{13}, 2.0f},
                        {Shape{3, 7, 5}, Shape{1, 13, 5}, Shape{3, 13, 3}, false, 0.45f, 3.0f, Shape{3, 7, 1}, 2.0f}};
  for (const Case& c : cases) {
    CAPTURE(c.b.str());
    QT& q = act(rnd(rng, c.q.numel(), -c.spread, c.spread * 0.7f), c.q);
    QT& k = act(rnd(rng, c.k.numel(), -c.spread * 0.8f, c.spread), c.k);
    QT& v = act(rnd(rng, c.v.numel(), -1.0f, 2.0f), c.v);
    QT* fb_ = nullptr;  // the float bias and its int32 form
    QT* qb = nullptr;
    const double step = static_cast<double>(q.scale[0]) * k.scale[0] * c.scale;
    if (c.b.rank) {
      fb_ = &make(DType::Float32, c.b);
      qb = &make(DType::Int32, c.b);
      std::vector<float> bv = rnd(rng, c.b.numel(), -c.bias_spread, c.bias_spread);
      for (int64_t i = 0; i < c.b.numel(); ++i) {
        if (c.mask > 0 && i % 3 == 1) bv[static_cast<size_t>(i)] = -c.mask;
        fb_->as<float>()[i] = bv[static_cast<size_t>(i)];
        const double bq = std::nearbyint(bv[static_cast<size_t>(i)] / step);
        REQUIRE(std::fabs(bq) <= ref::attq8::kMaxBias);
        qb->as<int32_t>()[i] = static_cast<int32_t>(bq);
      }
    }
    fb::NodeOptionsUnion u;
    auto* o = new fb::AttentionOptionsT;
    o->scale = c.scale;
    o->k_transposed = c.kt;
    u.type = fb::NodeOptions::AttentionOptions;
    u.value = o;
    Shape ys = c.q;
    ys[ys.rank - 1] = c.v[c.v.rank - 1];
    for (int i = 0; i < ys.rank - 2; ++i) ys[i] = std::max(c.q[i], c.v[i]);
    QT& fy = make(DType::Float32, ys);
    REQUIRE(run(OpType::Attention, u, {&real(q), &real(k), &real(v), fb_}, fy).is_ok());
    std::vector<float> fv(fy.as<float>(), fy.as<float>() + fy.n());
    QT& qy = act(fv, ys);
    std::fill(qy.bytes.begin(), qy.bytes.end(), 0);
    Status s = run(OpType::Attention, u, {&q, &k, &v, qb}, qy);
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    QT& back = real(qy);
    QT& rv = real(v);
    float vmax = 0;
    for (int64_t i = 0; i < rv.n(); ++i) vmax = std::max(vmax, std::fabs(rv.as<float>()[i]));
    const int64_t lk = c.kt ? c.k[c.k.rank - 1] : c.k[c.k.rank - 2];
    // |Y - y| <= s_y / 2 + max|v| (Lk / 65534 + 0.0041): the output rounding and the probabilities'
    // (the bias's rounding, half a step of the score grid per logit, adds ~step to the 0.0041).
    const double bound = qy.scale[0] * 0.5001 + vmax * (lk / 65534.0 + 0.0041 + step) + 1e-6;
    double worst = 0, mean = 0;
    for (int64_t i = 0; i < fy.n(); ++i) {
      const double d = std::fabs(back.as<float>()[i] - fy.as<float>()[i]);
      worst = std::max(worst, d);
      mean += d / static_cast<double>(fy.n());
    }
    CAPTURE(qy.scale[0]);
    CHECK(worst <= bound);
    CHECK(mean <= qy.scale[0] * 0.5);  // in practice: the output rounding's
    g_pool.clear();
  }
}
