// Conv and ConvTranspose reference kernels against definitions written straight from the ONNX
// spec in double precision: Conv as a sum per output element over its window, ConvTranspose as the
// scatter (gradient) form, where every input element adds its kernel-weighted copy to the output.
// Random 1-D/2-D/3-D shapes (odd sizes), groups, depthwise, strides, dilations, asymmetric pads,
// bias and fused activations; a depthwise conv against per-channel 1-channel convs; hand cases
// and the errors shape inference reports.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/harness.h"

namespace tern::test {

namespace {

template <typename T>
std::string list(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

double activation_ref(fb::Activation a, double x, double lo, double hi) {
  switch (a) {
    case fb::Activation::None: return x;
    case fb::Activation::Relu: return x > 0 ? x : 0;
    case fb::Activation::Clip: return std::min(std::max(x, lo), hi);
    case fb::Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case fb::Activation::SiLU: return x / (1 + std::exp(-x));
    case fb::Activation::GELU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case fb::Activation::GELUTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case fb::Activation::HardSwish: return x * std::min(std::max(x / 6 + 0.5, 0.0), 1.0);
    case fb::Activation::HardSigmoid: return std::min(std::max(lo * x + hi, 0.0), 1.0);
    case fb::Activation::Tanh: return std::tanh(x);
  }
  return x;
}

// Row-major multi-index <-> flat index over `dims`.
int64_t flat(const std::vector<int64_t>& dims, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t i = 0; i < dims.size(); ++i) f = f * dims[i] + idx[i];
  return f;
}
std::vector<int64_t> unflat(const std::vector<int64_t>& dims, int64_t f) {
  std::vector<int64_t> idx(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    idx[i] = f % dims[i];
    f /= dims[i];
  }
  return idx;
}

// Conv by the spec: y[n, m, o] = B[m] + sum over c in m's group and kernel offsets k of
// x[n, c, o * stride - pad_begin + k * dilation] * W[m, c - group_start, k], outside positions 0.
HostTensor conv_ref(const HostTensor& x, const HostTensor& w, const HostTensor* b, const fb::ConvOptionsT& o) {
  const int sp = x.shape.rank - 2;
  const int64_t cin = x.shape[1], m_total = w.shape[0], group = o.group, cg = cin / group, mg = m_total / group;
  std::vector<int64_t> xd = x.shape.vec(), wd = w.shape.vec(), yd = {x.shape[0], m_total};
  for (int i = 0; i < sp; ++i) {
    int64_t span = int64_t(o.dilations[i]) * (o.kernel_shape[i] - 1) + 1;
    yd.push_back((x.shape[2 + i] + o.pads[i] + o.pads[i + sp] - span) / o.strides[i] + 1);
  }
  HostTensor y(DType::Float32, Shape::from(yd));
  std::vector<int64_t> kd(wd.begin() + 2, wd.end());
  int64_t taps = 1;
  for (int64_t v : kd) taps *= v;
  for (int64_t f = 0; f < y.numel(); ++f) {
    std::vector<int64_t> yi = unflat(yd, f);
    int64_t n = yi[0], m = yi[1], g = m / mg;
    double acc = b ? b->f(m) : 0.0;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t t = 0; t < taps; ++t) {
        std::vector<int64_t> ki = unflat(kd, t), xi = {n, g * cg + c};
        bool inside = true;
        for (int i = 0; i < sp; ++i) {
          int64_t p = yi[2 + i] * o.strides[i] - o.pads[i] + ki[i] * o.dilations[i];
          inside = inside && p >= 0 && p < x.shape[2 + i];
          xi.push_back(p);
        }
        if (!inside) continue;
        std::vector<int64_t> wi = {m, c};
        wi.insert(wi.end(), ki.begin(), ki.end());
        acc += double(x.f(flat(xd, xi))) * w.f(flat(wd, wi));
      }
    y.data<float>()[f] = float(activation_ref(o.activation, acc, o.activation_min, o.activation_max));
  }
  return y;
}

// ConvTranspose by scattering: x[n, c, i] * W[c, m, k] lands on output position
// i * stride - pad_begin + k * dilation of output channel group * M/group + m, when inside.
HostTensor conv_transpose_ref(const HostTensor& x, const HostTensor& w, const HostTensor* b,
                              const fb::ConvTransposeOptionsT& o) {
  const int sp = x.shape.rank - 2;
  const int64_t cin = x.shape[1], group = o.group, cg = cin / group, mg = w.shape[1];
  std::vector<int64_t> xd = x.shape.vec(), wd = w.shape.vec(), yd = {x.shape[0], mg * group};
  for (int i = 0; i < sp; ++i)
    yd.push_back(int64_t(o.strides[i]) * (x.shape[2 + i] - 1) + o.output_padding[i] +
                 int64_t(o.dilations[i]) * (o.kernel_shape[i] - 1) + 1 - o.pads[i] - o.pads[i + sp]);
  std::vector<double> acc(static_cast<size_t>(Shape::from(yd).numel()), 0.0);
  std::vector<int64_t> kd(wd.begin() + 2, wd.end());
  int64_t taps = 1;
  for (int64_t v : kd) taps *= v;
  for (int64_t f = 0; f < x.numel(); ++f) {
    std::vector<int64_t> xi = unflat(xd, f);
    int64_t n = xi[0], c = xi[1], g = c / cg;
    for (int64_t m = 0; m < mg; ++m)
      for (int64_t t = 0; t < taps; ++t) {
        std::vector<int64_t> ki = unflat(kd, t), yi = {n, g * mg + m};
        bool inside = true;
        for (int i = 0; i < sp; ++i) {
          int64_t p = xi[2 + i] * o.strides[i] - o.pads[i] + ki[i] * o.dilations[i];
          inside = inside && p >= 0 && p < yd[2 + i];
          yi.push_back(p);
        }
        if (!inside) continue;
        std::vector<int64_t> wi = {c, m};
        wi.insert(wi.end(), ki.begin(), ki.end());
        acc[static_cast<size_t>(flat(yd, yi))] += double(x.f(f)) * w.f(flat(wd, wi));
      }
  }
  HostTensor y(DType::Float32, Shape::from(yd));
  for (int64_t f = 0; f < y.numel(); ++f) {
    int64_t m = unflat(yd, f)[1];
    y.data<float>()[f] = float(acc[static_cast<size_t>(f)] + (b ? b->f(m) : 0.0));
  }
  return y;
}

constexpr fb::Activation kActivations[] = {
    fb::Activation::None,    fb::Activation::Relu,      fb::Activation::Clip,
    fb::Activation::Sigmoid, fb::Activation::SiLU,      fb::Activation::GELU,
    fb::Activation::GELUTanh, fb::Activation::HardSwish, fb::Activation::HardSigmoid,
    fb::Activation::Tanh};

std::string conv_what(const char* op, const HostTensor& x, const HostTensor& w, bool bias, int group,
                      const std::vector<int32_t>& k, const std::vector<int32_t>& s, const std::vector<int32_t>& d,
                      const std::vector<int32_t>& pads, const std::string& extra) {
  return std::string(op) + " X " + x.shape.str() + " W " + w.shape.str() + (bias ? " with bias" : " no bias") +
         " group=" + std::to_string(group) + " kernel=" + list(k) + " strides=" + list(s) + " dilations=" + list(d) +
         " pads=" + list(pads) + extra;
}

}  // namespace

TEST_CASE("conv: random 1-D/2-D/3-D shapes, groups, strides, dilations, pads, bias, activation vs the spec") {
  std::mt19937 rng(20240601);
  int ran = 0;
  for (int trial = 0; ran < 160 && trial < 2000; ++trial) {
    const int sp = 1 + trial % 3;
    const int64_t max_in = sp == 3 ? 7 : (sp == 2 ? 14 : 40);
    const int kind = static_cast<int>(rng() % 4);  // 0: dense, 1: grouped, 2: depthwise, 3: depthwise x2
    int64_t group = 1, cg = random_dim(rng, 1, 5), mg = random_dim(rng, 1, 9);
    if (kind == 1) group = random_dim(rng, 2, 3);
    if (kind >= 2) {
      group = random_dim(rng, 1, 6);
      cg = 1;
      mg = kind - 1;
    }
    fb::ConvOptionsT o;
    o.group = static_cast<int32_t>(group);
    std::vector<int64_t> xd = {random_dim(rng, 1, 2), group * cg}, wd = {group * mg, cg};
    for (int i = 0; i < sp; ++i) {
      int64_t in = random_dim(rng, 1, max_in);
      int32_t k = static_cast<int32_t>(random_dim(rng, 1, sp == 3 ? 3 : 5));
      int32_t s = static_cast<int32_t>(1 + rng() % 3), d = static_cast<int32_t>(1 + rng() % 2);
      xd.push_back(in);
      wd.push_back(k);
      o.kernel_shape.push_back(k);
      o.strides.push_back(s);
      o.dilations.push_back(d);
      o.pads.push_back(static_cast<int32_t>(rng() % 3));
    }
    for (int i = 0; i < sp; ++i) o.pads.push_back(static_cast<int32_t>(rng() % 3));
    bool valid = true;
    for (int i = 0; i < sp; ++i)
      valid = valid && xd[2 + i] + o.pads[i] + o.pads[i + sp] >= int64_t(o.dilations[i]) * (o.kernel_shape[i] - 1) + 1;
    if (!valid) continue;
    o.activation = kActivations[rng() % 10];
    o.activation_min = o.activation == fb::Activation::HardSigmoid ? 0.3f : -0.5f;
    o.activation_max = 0.5f;
    HostTensor x = random_f32(rng, Shape::from(xd)), w = random_f32(rng, Shape::from(wd));
    HostTensor b = random_f32(rng, Shape{group * mg});
    bool with_bias = rng() % 2;
    auto out = run_reference({OpType::Conv, make_options(o), {&x, &w, with_bias ? &b : nullptr}});
    REQUIRE(out.size() == 1);
    check_close(out[0], conv_ref(x, w, with_bias ? &b : nullptr, o), 1e-4, 1e-5,
                conv_what("Conv", x, w, with_bias, o.group, o.kernel_shape, o.strides, o.dilations, o.pads,
                          " activation=" + std::string(fb::EnumNameActivation(o.activation))));
    ++ran;
  }
  CHECK(ran == 160);
}

TEST_CASE("conv: wide rows, many channels and pointwise convs (tiled paths) vs the spec") {
  std::mt19937 rng(77);
  struct C {
    std::vector<int64_t> x;
    int64_t m;
    int group;
    std::vector<int32_t> k, s, d, pads;
  } cases[] = {
      {{1, 6, 9, 45}, 11, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},      // 4-channel blocks + 3 left, 8/4/1 tiles
      {{2, 5, 7, 29}, 7, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},       // pointwise: one matrix product
      {{1, 8, 6, 31}, 8, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},       // 1x1 with stride: direct path
      {{1, 4, 5, 17}, 9, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 1}},       // 1x1 with an end pad
      {{1, 3, 11, 33}, 5, 1, {3, 5}, {2, 3}, {2, 1}, {2, 3, 1, 2}},      // strided, dilated, asymmetric
      {{1, 12, 10, 40}, 12, 12, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},   // depthwise
      {{1, 6, 8, 25}, 12, 3, {5, 3}, {1, 2}, {1, 2}, {2, 0, 1, 3}},      // grouped
      {{1, 2, 300}, 6, 1, {7}, {1}, {3}, {9, 9}},                        // long 1-D, dilated
      {{1, 4, 4, 5, 19}, 6, 2, {2, 3, 3}, {1, 1, 2}, {2, 1, 1}, {1, 0, 1, 0, 1, 2}},  // 3-D
  };
  for (const C& c : cases) {
    fb::ConvOptionsT o;
    o.group = c.group;
    o.kernel_shape = c.k;
    o.strides = c.s;
    o.dilations = c.d;
    o.pads = c.pads;
    o.activation = fb::Activation::Relu;
    std::vector<int64_t> wd = {c.m, c.x[1] / c.group};
    for (int32_t k : c.k) wd.push_back(k);
    HostTensor x = random_f32(rng, Shape::from(c.x)), w = random_f32(rng, Shape::from(wd)),
               b = random_f32(rng, Shape{c.m});
    auto out = run_reference({OpType::Conv, make_options(o), {&x, &w, &b}});
    REQUIRE(out.size() == 1);
    check_close(out[0], conv_ref(x, w, &b, o), 1e-4, 1e-5,
                conv_what("Conv", x, w, true, o.group, o.kernel_shape, o.strides, o.dilations, o.pads, " relu"));
  }
}

TEST_CASE("conv: every fused activation after the bias") {
  std::mt19937 rng(5);
  HostTensor x = random_f32(rng, Shape{1, 3, 5, 11}, -3.f, 3.f), w = random_f32(rng, Shape{5, 3, 3, 3});
  HostTensor b = random_f32(rng, Shape{5}, 2.f, 3.f);  // a large bias: activation before it would differ
  for (fb::Activation a : kActivations) {
    fb::ConvOptionsT o;
    o.kernel_shape = {3, 3};
    o.strides = {1, 1};
    o.dilations = {1, 1};
    o.pads = {1, 0, 0, 1};
    o.activation = a;
    o.activation_min = a == fb::Activation::HardSigmoid ? 0.3f : -0.25f;
    o.activation_max = a == fb::Activation::HardSigmoid ? 0.4f : 1.5f;
    auto out = run_reference({OpType::Conv, make_options(o), {&x, &w, &b}});
    REQUIRE(out.size() == 1);
    check_close(out[0], conv_ref(x, w, &b, o), 1e-5, 1e-5,
                std::string("Conv [1x3x5x11] 3x3 activation=") + fb::EnumNameActivation(a));
  }
}

TEST_CASE("conv: depthwise equals one single-channel conv per channel") {
  std::mt19937 rng(11);
  const int64_t ch = 7;
  HostTensor x = random_f32(rng, Shape{1, ch, 9, 23}), w = random_f32(rng, Shape{ch, 1, 3, 5}),
             b = random_f32(rng, Shape{ch});
  fb::ConvOptionsT o;
  o.group = ch;
  o.kernel_shape = {3, 5};
  o.strides = {2, 1};
  o.dilations = {1, 2};
  o.pads = {1, 4, 0, 3};
  auto dw = run_reference({OpType::Conv, make_options(o), {&x, &w, &b}});
  REQUIRE(dw.size() == 1);
  const int64_t plane_in = 9 * 23, plane_out = dw[0].numel() / ch;
  o.group = 1;
  for (int64_t c = 0; c < ch; ++c) {
    HostTensor xc(DType::Float32, Shape{1, 1, 9, 23}), wc(DType::Float32, Shape{1, 1, 3, 5});
    HostTensor bc = HostTensor::f32({1}, {b.f(c)});
    std::copy(x.data<float>() + c * plane_in, x.data<float>() + (c + 1) * plane_in, xc.data<float>());
    std::copy(w.data<float>() + c * 15, w.data<float>() + (c + 1) * 15, wc.data<float>());
    auto one = run_reference({OpType::Conv, make_options(o), {&xc, &wc, &bc}});
    REQUIRE(one.size() == 1);
    HostTensor slice(DType::Float32, one[0].shape);
    std::copy(dw[0].data<float>() + c * plane_out, dw[0].data<float>() + (c + 1) * plane_out, slice.data<float>());
    check_close(slice, one[0], 1e-6, 1e-6, "depthwise Conv [1x7x9x23] k=[3,5] channel " + std::to_string(c));
  }
}

TEST_CASE("conv: hand-computed 1-D case and zero-sized batch") {
  HostTensor x = HostTensor::f32({1, 1, 4}, {1, 2, 3, 4});
  HostTensor w = HostTensor::f32({1, 1, 3}, {1, 0, -1});
  fb::ConvOptionsT o;
  o.kernel_shape = {3};
  o.strides = {1};
  o.dilations = {1};
  o.pads = {1, 1};
  auto out = run_reference({OpType::Conv, make_options(o), {&x, &w, nullptr}});
  REQUIRE(out.size() == 1);
  check_equal(out[0], HostTensor::f32({1, 1, 4}, {-2, -2, -2, 3}), "Conv [1x1x4] * [1,0,-1] pads 1");

  HostTensor x0(DType::Float32, Shape{0, 1, 4});
  auto empty = run_reference({OpType::Conv, make_options(o), {&x0, &w, nullptr}});
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].shape == Shape{0, 1, 4});

  // No input channels: the output is the bias alone.
  HostTensor xc0(DType::Float32, Shape{1, 0, 4}), wc0(DType::Float32, Shape{2, 0, 3});
  HostTensor b = HostTensor::f32({2}, {0.5f, -1.5f});
  auto bias_only = run_reference({OpType::Conv, make_options(o), {&xc0, &wc0, &b}});
  REQUIRE(bias_only.size() == 1);
  check_equal(bias_only[0], HostTensor::f32({1, 2, 4}, {0.5f, 0.5f, 0.5f, 0.5f, -1.5f, -1.5f, -1.5f, -1.5f}),
              "Conv with 0 input channels");
}

TEST_CASE("conv: bad shapes are rejected by inference with the problem named") {
  fb::ConvOptionsT o;
  o.group = 2;
  o.kernel_shape = {3, 3};
  o.strides = {1, 1};
  o.dilations = {1, 1};
  o.pads = {0, 0, 0, 0};
  HostTensor x(DType::Float32, Shape{1, 4, 5, 5}), w(DType::Float32, Shape{6, 3, 3, 3});
  std::vector<HostTensor> out;
  Status st = try_run_reference({OpType::Conv, make_options(o), {&x, &w, nullptr}}, &out);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("group=2") != std::string::npos, st.message());

  o.group = 1;
  HostTensor xs(DType::Float32, Shape{1, 3, 2, 2});
  st = try_run_reference({OpType::Conv, make_options(o), {&xs, &w, nullptr}}, &out);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("larger than the padded input") != std::string::npos, st.message());

  HostTensor bad_bias(DType::Float32, Shape{5});
  HostTensor x3(DType::Float32, Shape{1, 3, 5, 5});
  st = try_run_reference({OpType::Conv, make_options(o), {&x3, &w, &bad_bias}}, &out);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("bias B has shape [5]") != std::string::npos, st.message());
}

TEST_CASE("conv_transpose: random shapes, groups, strides, dilations, pads, output_padding vs the scatter form") {
  std::mt19937 rng(4242);
  int ran = 0;
  for (int trial = 0; ran < 120 && trial < 2000; ++trial) {
    const int sp = 1 + trial % 3;
    const int64_t max_in = sp == 3 ? 5 : (sp == 2 ? 9 : 25);
    int64_t group = rng() % 3 == 0 ? random_dim(rng, 2, 3) : 1, cg = random_dim(rng, 1, 4),
            mg = random_dim(rng, 1, 6);
    fb::ConvTransposeOptionsT o;
    o.group = static_cast<int32_t>(group);
    std::vector<int64_t> xd = {random_dim(rng, 1, 2), group * cg}, wd = {group * cg, mg};
    for (int i = 0; i < sp; ++i) {
      int32_t k = static_cast<int32_t>(random_dim(rng, 1, sp == 3 ? 3 : 4));
      int32_t s = static_cast<int32_t>(1 + rng() % 3), d = static_cast<int32_t>(1 + rng() % 2);
      xd.push_back(random_dim(rng, 1, max_in));
      wd.push_back(k);
      o.kernel_shape.push_back(k);
      o.strides.push_back(s);
      o.dilations.push_back(d);
      // Usually below max(stride, dilation) as ONNX asks; sometimes above, as a resolved
      // output_shape can produce.
      o.output_padding.push_back(static_cast<int32_t>(rng() % (std::max(s, d) + 1)));
      o.pads.push_back(static_cast<int32_t>(rng() % 3));
    }
    for (int i = 0; i < sp; ++i) o.pads.push_back(static_cast<int32_t>(rng() % 3));
    bool valid = true;
    for (int i = 0; i < sp; ++i)
      valid = valid && int64_t(o.strides[i]) * (xd[2 + i] - 1) + o.output_padding[i] +
                               int64_t(o.dilations[i]) * (o.kernel_shape[i] - 1) + 1 - o.pads[i] - o.pads[i + sp] >= 1;
    if (!valid) continue;
    HostTensor x = random_f32(rng, Shape::from(xd)), w = random_f32(rng, Shape::from(wd));
    HostTensor b = random_f32(rng, Shape{group * mg});
    bool with_bias = rng() % 2;
    auto out = run_reference({OpType::ConvTranspose, make_options(o), {&x, &w, with_bias ? &b : nullptr}});
    REQUIRE(out.size() == 1);
    check_close(out[0], conv_transpose_ref(x, w, with_bias ? &b : nullptr, o), 1e-4, 1e-5,
                conv_what("ConvTranspose", x, w, with_bias, o.group, o.kernel_shape, o.strides, o.dilations, o.pads,
                          " output_padding=" + list(o.output_padding)));
    ++ran;
  }
  CHECK(ran == 120);
}

TEST_CASE("conv_transpose: hand-computed upsampling and a negative output_padding error") {
  // x = [1, 2], W = [1, 1, 1], stride 2: each input copies itself over 3 outputs, overlapping once.
  HostTensor x = HostTensor::f32({1, 1, 2}, {1, 2});
  HostTensor w = HostTensor::f32({1, 1, 3}, {1, 1, 1});
  fb::ConvTransposeOptionsT o;
  o.kernel_shape = {3};
  o.strides = {2};
  o.dilations = {1};
  o.pads = {0, 0};
  o.output_padding = {1};
  auto out = run_reference({OpType::ConvTranspose, make_options(o), {&x, &w, nullptr}});
  REQUIRE(out.size() == 1);
  check_equal(out[0], HostTensor::f32({1, 1, 6}, {1, 1, 3, 2, 2, 0}), "ConvTranspose [1,2] * [1,1,1] stride 2");

  o.output_padding = {-1};
  std::vector<HostTensor> res;
  Status st = try_run_reference({OpType::ConvTranspose, make_options(o), {&x, &w, nullptr}}, &res);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(st.message().find("output_padding[0] = -1 is negative") != std::string::npos, st.message());
}

}  // namespace tern::test
