#include "import/onnx_lower.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "import/onnx_import.h"
#include "import/onnx_tensor.h"
#include "onnx/onnx_pb.h"
#include "ops/op_defs.h"

namespace tern::compiler {

namespace {

using ir::Node;
using ir::Value;

Status fail(const Node& n, StatusCode code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
Status fail(const Node& n, StatusCode code, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string msg = n.label() + ": " + str_vformat(fmt, args);
  va_end(args);
  return Status(code, std::move(msg));
}

const onnx::NodeProto& P(const Node& n) { return *n.proto; }
Value* input(const Node& n, size_t i) { return i < n.inputs.size() ? n.inputs[i] : nullptr; }
int rank_of(const Node& n, size_t i) { return input(n, i) ? input(n, i)->shape.rank : 0; }

// The contents of a constant integer input as int64 values.
Status const_ints(const Node& n, size_t i, const char* what, std::vector<int64_t>* out) {
  Value* v = input(n, i);
  if (!v) return fail(n, StatusCode::kInvalidArgument, "input '%s' is missing", what);
  if (!v->is_constant())
    return fail(n, StatusCode::kUnsupported,
                "input '%s' (%s) must be known at compile time, but it is computed at run time; Tern needs static shapes "
                "(fix dynamic dims with --input-shape)",
                what, v->name.c_str());
  out->clear();
  int64_t count = v->shape.numel();
  for (int64_t k = 0; k < count; ++k) {
    switch (v->dtype) {
      case DType::Int64: out->push_back(v->as<int64_t>()[k]); break;
      case DType::Int32: out->push_back(v->as<int32_t>()[k]); break;
      default: return fail(n, StatusCode::kInvalidArgument, "input '%s' must be int32 or int64, not %s", what, dtype_name(v->dtype));
    }
  }
  return Status::ok();
}

Status const_floats(const Node& n, size_t i, const char* what, std::vector<float>* out) {
  Value* v = input(n, i);
  if (!v || !v->is_constant())
    return fail(n, StatusCode::kUnsupported, "input '%s' must be a compile-time constant", what);
  out->clear();
  for (int64_t k = 0; k < v->shape.numel(); ++k) {
    switch (v->dtype) {
      case DType::Float32: out->push_back(v->as<float>()[k]); break;
      case DType::Int64: out->push_back(static_cast<float>(v->as<int64_t>()[k])); break;
      case DType::Int32: out->push_back(static_cast<float>(v->as<int32_t>()[k])); break;
      case DType::Int16: out->push_back(static_cast<float>(v->as<int16_t>()[k])); break;
      case DType::Int8: out->push_back(static_cast<float>(v->as<int8_t>()[k])); break;
      case DType::UInt8: out->push_back(static_cast<float>(v->as<uint8_t>()[k])); break;
      default: return fail(n, StatusCode::kInvalidArgument, "input '%s' has unsupported dtype %s", what, dtype_name(v->dtype));
    }
  }
  return Status::ok();
}

Status norm_axis(const Node& n, int64_t axis, int rank, int32_t* out, const char* what = "axis") {
  if (axis < -rank || axis >= rank)
    return fail(n, StatusCode::kInvalidArgument, "%s %lld is outside the input's rank %d", what, static_cast<long long>(axis), rank);
  *out = static_cast<int32_t>(axis < 0 ? axis + rank : axis);
  return Status::ok();
}

// Drop inputs from index `keep` on (they became options).
void keep_inputs(Node& n, size_t keep) {
  if (n.inputs.size() > keep) n.inputs.resize(keep);
}

// Fails if optional outputs beyond `keep` are used by the graph; otherwise drops them.
Status keep_outputs(ir::Graph& g, Node& n, size_t keep) {
  if (n.outputs.size() <= keep) return Status::ok();
  auto users = g.users();
  for (size_t i = keep; i < n.outputs.size(); ++i) {
    Value* o = n.outputs[i];
    if (o && (o->is_graph_output || users.count(o)))
      return fail(n, StatusCode::kUnsupported, "output %zu ('%s') is used, but Tern computes only the first %zu output%s", i,
                  o->name.c_str(), keep, keep == 1 ? "" : "s");
    if (o) o->producer = nullptr;
  }
  n.outputs.resize(keep);
  return Status::ok();
}

template <typename T>
void set(Node& n, OpType op, T options) {
  n.op = op;
  n.options.Set(std::move(options));
}
void set(Node& n, OpType op) {
  n.op = op;
  n.options.Reset();
}

std::vector<int32_t> to_i32(const std::vector<int64_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// Spatial window attributes shared by Conv, ConvTranspose and pooling. Resolves auto_pad.
struct Window {
  std::vector<int32_t> kernel, strides, dilations, pads;
};

Status window_attrs(const Node& n, int spatial, const std::vector<int64_t>& kernel_from_weights, bool transposed, Window* w) {
  const auto& p = P(n);
  std::vector<int64_t> k = attr_ints(p, "kernel_shape");
  if (k.empty()) k = kernel_from_weights;
  if (static_cast<int>(k.size()) != spatial)
    return fail(n, StatusCode::kInvalidArgument, "kernel_shape has %zu entries for %d spatial dims", k.size(), spatial);
  std::vector<int64_t> s = attr_ints(p, "strides"), d = attr_ints(p, "dilations"), pads = attr_ints(p, "pads");
  if (s.empty()) s.assign(static_cast<size_t>(spatial), 1);
  if (d.empty()) d.assign(static_cast<size_t>(spatial), 1);
  if (static_cast<int>(s.size()) != spatial || static_cast<int>(d.size()) != spatial)
    return fail(n, StatusCode::kInvalidArgument, "strides/dilations need %d entries", spatial);
  std::string auto_pad = attr_string(p, "auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    if (pads.empty()) pads.assign(static_cast<size_t>(2 * spatial), 0);
    if (static_cast<int>(pads.size()) != 2 * spatial)
      return fail(n, StatusCode::kInvalidArgument, "pads has %zu entries; %d expected", pads.size(), 2 * spatial);
  } else if (auto_pad == "VALID") {
    pads.assign(static_cast<size_t>(2 * spatial), 0);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    pads.assign(static_cast<size_t>(2 * spatial), 0);
    if (!transposed) {
      const Shape& x = input(n, 0)->shape;
      for (int i = 0; i < spatial; ++i) {
        int64_t in = x[2 + i], out = (in + s[static_cast<size_t>(i)] - 1) / s[static_cast<size_t>(i)];
        int64_t total = std::max<int64_t>((out - 1) * s[static_cast<size_t>(i)] + (k[static_cast<size_t>(i)] - 1) * d[static_cast<size_t>(i)] + 1 - in, 0);
        int64_t small = total / 2, big = total - small;
        pads[static_cast<size_t>(i)] = auto_pad == "SAME_UPPER" ? small : big;
        pads[static_cast<size_t>(i + spatial)] = auto_pad == "SAME_UPPER" ? big : small;
      }
    }
  } else {
    return fail(n, StatusCode::kInvalidArgument, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", auto_pad.c_str());
  }
  w->kernel = to_i32(k);
  w->strides = to_i32(s);
  w->dilations = to_i32(d);
  w->pads = to_i32(pads);
  return Status::ok();
}

// ---- per-op lowering -----------------------------------------------------------------------

Status lower_conv(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  if (r < 3) return fail(n, StatusCode::kInvalidArgument, "input X has rank %d; Conv needs [N, C, spatial...]", r);
  Value* w = input(n, 1);
  std::vector<int64_t> kw(w->shape.dims + 2, w->shape.dims + std::max(2, w->shape.rank));
  Window win;
  TERN_RETURN_IF_ERROR(window_attrs(n, r - 2, kw, false, &win));
  fb::ConvOptionsT o;
  o.kernel_shape = win.kernel;
  o.strides = win.strides;
  o.dilations = win.dilations;
  o.pads = win.pads;
  o.group = static_cast<int32_t>(attr_int(P(n), "group", 1));
  set(n, OpType::Conv, std::move(o));
  return Status::ok();
}

Status lower_conv_transpose(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  if (r < 3) return fail(n, StatusCode::kInvalidArgument, "input X has rank %d; ConvTranspose needs [N, C, spatial...]", r);
  int spatial = r - 2;
  Value* w = input(n, 1);
  std::vector<int64_t> kw(w->shape.dims + 2, w->shape.dims + std::max(2, w->shape.rank));
  Window win;
  TERN_RETURN_IF_ERROR(window_attrs(n, spatial, kw, true, &win));
  std::vector<int64_t> out_pad = attr_ints(P(n), "output_padding"), out_shape = attr_ints(P(n), "output_shape");
  if (out_pad.empty()) out_pad.assign(static_cast<size_t>(spatial), 0);
  std::string auto_pad = attr_string(P(n), "auto_pad", "NOTSET");
  const Shape& x = input(n, 0)->shape;
  if (out_shape.empty() && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER"))
    for (int i = 0; i < spatial; ++i) out_shape.push_back(x[2 + i] * win.strides[static_cast<size_t>(i)]);
  if (!out_shape.empty()) {
    if (static_cast<int>(out_shape.size()) == r) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (static_cast<int>(out_shape.size()) != spatial)
      return fail(n, StatusCode::kInvalidArgument, "output_shape needs %d entries", spatial);
    for (int i = 0; i < spatial; ++i) {
      size_t u = static_cast<size_t>(i);
      int64_t total = win.strides[u] * (x[2 + i] - 1) + out_pad[u] + (win.kernel[u] - 1) * win.dilations[u] + 1 - out_shape[u];
      // ONNX's reference splits with floor division; a negative part extends the output at that
      // side, which Tern supports at the end (as extra output_padding) but not at the start.
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      bool upper = auto_pad == "SAME_UPPER";
      int64_t begin = upper ? half : total - half, end = upper ? total - half : half;
      if (begin < 0) return fail(n, StatusCode::kUnsupported, "output_shape needs negative padding at the start of axis %d", i);
      if (end < 0) {
        out_pad[u] += -end;
        end = 0;
      }
      win.pads[u] = static_cast<int32_t>(begin);
      win.pads[u + static_cast<size_t>(spatial)] = static_cast<int32_t>(end);
    }
  }
  fb::ConvTransposeOptionsT o;
  o.kernel_shape = win.kernel;
  o.strides = win.strides;
  o.dilations = win.dilations;
  o.pads = win.pads;
  o.output_padding = to_i32(out_pad);
  o.group = static_cast<int32_t>(attr_int(P(n), "group", 1));
  set(n, OpType::ConvTranspose, std::move(o));
  return Status::ok();
}

Status lower_pool(ir::Graph& g, Node& n) {
  int r = rank_of(n, 0);
  if (r < 3) return fail(n, StatusCode::kInvalidArgument, "input X has rank %d; pooling needs [N, C, spatial...]", r);
  bool is_max = n.onnx_type == "MaxPool";
  if (is_max) TERN_RETURN_IF_ERROR(keep_outputs(g, n, 1));
  if (attr_int(P(n), "storage_order", 0) != 0) return fail(n, StatusCode::kUnsupported, "storage_order=1 is not supported");
  Window win;
  TERN_RETURN_IF_ERROR(window_attrs(n, r - 2, {}, false, &win));
  fb::PoolOptionsT o;
  o.kernel_shape = win.kernel;
  o.strides = win.strides;
  o.dilations = win.dilations;
  o.pads = win.pads;
  o.ceil_mode = attr_int(P(n), "ceil_mode", 0) != 0;
  o.count_include_pad = attr_int(P(n), "count_include_pad", 0) != 0;
  set(n, is_max ? OpType::MaxPool : OpType::AveragePool, std::move(o));
  return Status::ok();
}

Status lower_gemm(ir::Graph&, Node& n) {
  fb::GemmOptionsT o;
  o.alpha = attr_float(P(n), "alpha", 1.f);
  o.beta = attr_float(P(n), "beta", 1.f);
  o.trans_a = attr_int(P(n), "transA", 0) != 0;
  o.trans_b = attr_int(P(n), "transB", 0) != 0;
  set(n, OpType::Gemm, std::move(o));
  return Status::ok();
}

Status lower_matmul(ir::Graph&, Node& n) {
  set(n, OpType::MatMul, fb::MatMulOptionsT{});
  return Status::ok();
}

Status lower_batch_norm(ir::Graph& g, Node& n) {
  if (attr_int(P(n), "training_mode", 0) != 0) return fail(n, StatusCode::kUnsupported, "training_mode=1 is not supported");
  TERN_RETURN_IF_ERROR(keep_outputs(g, n, 1));
  fb::NormOptionsT o;
  o.epsilon = attr_float(P(n), "epsilon", 1e-5f);
  set(n, OpType::BatchNormalization, std::move(o));
  return Status::ok();
}

Status lower_layer_norm(ir::Graph& g, Node& n) {
  TERN_RETURN_IF_ERROR(keep_outputs(g, n, 3));  // Y, optional Mean and InvStdDev
  fb::NormOptionsT o;
  o.epsilon = attr_float(P(n), "epsilon", 1e-5f);
  TERN_RETURN_IF_ERROR(norm_axis(n, attr_int(P(n), "axis", -1), rank_of(n, 0), &o.axis));
  set(n, OpType::LayerNormalization, std::move(o));
  return Status::ok();
}

Status lower_group_norm(ir::Graph& g, Node& n) {
  fb::NormOptionsT o;
  o.epsilon = attr_float(P(n), "epsilon", 1e-5f);
  o.num_groups = static_cast<int32_t>(attr_int(P(n), "num_groups", 1));
  const Shape& x = input(n, 0)->shape;
  if (x.rank < 3) return fail(n, StatusCode::kInvalidArgument, "input X has rank %d; expected [N, C, spatial...]", x.rank);
  int64_t c = x[1];
  // Opsets 18-20 give scale and bias per group; Tern's op takes them per channel.
  for (size_t i = 1; i <= 2; ++i) {
    Value* v = input(n, i);
    if (v && v->shape.numel() == o.num_groups && o.num_groups != c) {
      if (!v->is_constant() || v->dtype != DType::Float32)
        return fail(n, StatusCode::kUnsupported, "per-group %s must be a float32 constant", i == 1 ? "scale" : "bias");
      if (o.num_groups <= 0 || c % o.num_groups) return fail(n, StatusCode::kInvalidArgument, "num_groups does not divide C");
      std::vector<uint8_t> bytes(static_cast<size_t>(c) * 4);
      float* dst = reinterpret_cast<float*>(bytes.data());
      for (int64_t ch = 0; ch < c; ++ch) dst[ch] = v->as<float>()[ch / (c / o.num_groups)];
      n.inputs[i] = g.add_constant(g.unique_name(v->name + "_per_channel"), DType::Float32, Shape{c}, std::move(bytes));
    }
  }
  set(n, OpType::GroupNormalization, std::move(o));
  return Status::ok();
}

Status lower_instance_norm(ir::Graph&, Node& n) {
  fb::NormOptionsT o;
  o.epsilon = attr_float(P(n), "epsilon", 1e-5f);
  set(n, OpType::InstanceNormalization, std::move(o));
  return Status::ok();
}

Status lower_simple(ir::Graph& g, Node& n) {
  static const std::unordered_map<std::string, OpType> kSimple = {
      {"Add", OpType::Add}, {"Sub", OpType::Sub}, {"Mul", OpType::Mul}, {"Div", OpType::Div}, {"Pow", OpType::Pow},
      {"Equal", OpType::Equal}, {"Less", OpType::Less}, {"Greater", OpType::Greater}, {"LessOrEqual", OpType::LessOrEqual},
      {"GreaterOrEqual", OpType::GreaterOrEqual}, {"And", OpType::And}, {"Or", OpType::Or}, {"PRelu", OpType::PRelu},
      {"Relu", OpType::Relu}, {"Sigmoid", OpType::Sigmoid}, {"HardSwish", OpType::HardSwish}, {"Tanh", OpType::Tanh},
      {"Erf", OpType::Erf}, {"Exp", OpType::Exp}, {"Log", OpType::Log}, {"Sqrt", OpType::Sqrt}, {"Neg", OpType::Neg},
      {"Abs", OpType::Abs}, {"Softplus", OpType::Softplus}, {"Reciprocal", OpType::Reciprocal}, {"Floor", OpType::Floor},
      {"Ceil", OpType::Ceil}, {"Round", OpType::Round}, {"Sin", OpType::Sin}, {"Cos", OpType::Cos}, {"Not", OpType::Not},
      {"Sign", OpType::Sign}, {"Where", OpType::Where}, {"GlobalAveragePool", OpType::GlobalAveragePool},
      {"GlobalMaxPool", OpType::GlobalMaxPool}, {"Identity", OpType::Identity}, {"Range", OpType::Range},
  };
  set(n, kSimple.at(n.onnx_type));
  return Status::ok();
}

// Sum, Min, Max, Mean are variadic in ONNX; Tern lowers the one- and two-input forms.
Status lower_variadic(ir::Graph&, Node& n) {
  size_t count = 0;
  for (Value* v : n.inputs) count += v != nullptr;
  if (count == 1) {
    set(n, OpType::Identity);
    return Status::ok();
  }
  if (count != 2 || n.onnx_type == "Mean")
    return fail(n, StatusCode::kInternal, "%zu inputs reached lowering; the importer expands variadic ops", count);
  set(n, n.onnx_type == "Sum" ? OpType::Add : n.onnx_type == "Min" ? OpType::Min : OpType::Max);
  return Status::ok();
}

Status lower_alpha_beta(ir::Graph&, Node& n) {
  fb::AlphaBetaOptionsT o;
  if (n.onnx_type == "HardSigmoid") {
    o.alpha = attr_float(P(n), "alpha", 0.2f);
    o.beta = attr_float(P(n), "beta", 0.5f);
    set(n, OpType::HardSigmoid, std::move(o));
  } else if (n.onnx_type == "LeakyRelu") {
    o.alpha = attr_float(P(n), "alpha", 0.01f);
    set(n, OpType::LeakyRelu, std::move(o));
  } else {
    o.alpha = attr_float(P(n), "alpha", 1.0f);
    set(n, OpType::Elu, std::move(o));
  }
  return Status::ok();
}

Status lower_clip(ir::Graph&, Node& n) {
  fb::ClipOptionsT o;
  o.min = -std::numeric_limits<float>::infinity();
  o.max = std::numeric_limits<float>::infinity();
  if (find_attr(P(n), "min")) o.min = attr_float(P(n), "min", o.min);
  if (find_attr(P(n), "max")) o.max = attr_float(P(n), "max", o.max);
  std::vector<float> v;
  if (input(n, 1)) {
    TERN_RETURN_IF_ERROR(const_floats(n, 1, "min", &v));
    if (v.size() == 1) o.min = v[0];
  }
  if (input(n, 2)) {
    TERN_RETURN_IF_ERROR(const_floats(n, 2, "max", &v));
    if (v.size() == 1) o.max = v[0];
  }
  keep_inputs(n, 1);
  set(n, OpType::Clip, std::move(o));
  return Status::ok();
}

Status lower_softmax(ir::Graph& g, Node& n) {
  int r = rank_of(n, 0);
  fb::AxisOptionsT o;
  int64_t axis = attr_int(P(n), "axis", g.opset >= 13 ? -1 : 1);
  TERN_RETURN_IF_ERROR(norm_axis(n, axis, r, &o.axis));
  set(n, n.onnx_type == "Softmax" ? OpType::Softmax : OpType::LogSoftmax, std::move(o));
  return Status::ok();
}

Status lower_reduce(ir::Graph& g, Node& n) {
  static const std::unordered_map<std::string, OpType> kOps = {{"ReduceMean", OpType::ReduceMean}, {"ReduceSum", OpType::ReduceSum},
                                                               {"ReduceMax", OpType::ReduceMax},   {"ReduceMin", OpType::ReduceMin},
                                                               {"ReduceProd", OpType::ReduceProd}};
  int r = rank_of(n, 0);
  std::vector<int64_t> axes = attr_ints(P(n), "axes");
  if (input(n, 1)) TERN_RETURN_IF_ERROR(const_ints(n, 1, "axes", &axes));
  keep_inputs(n, 1);
  if (axes.empty() && attr_int(P(n), "noop_with_empty_axes", 0)) {
    set(n, OpType::Identity);
    return Status::ok();
  }
  fb::ReduceOptionsT o;
  for (int64_t a : axes) {
    int32_t na = 0;
    TERN_RETURN_IF_ERROR(norm_axis(n, a, r, &na, "axes entry"));
    o.axes.push_back(na);
  }
  std::sort(o.axes.begin(), o.axes.end());
  if (std::adjacent_find(o.axes.begin(), o.axes.end()) != o.axes.end())
    return fail(n, StatusCode::kInvalidArgument, "axes lists an axis twice");
  o.keepdims = attr_int(P(n), "keepdims", 1) != 0;
  set(n, kOps.at(n.onnx_type), std::move(o));
  (void)g;
  return Status::ok();
}

Status lower_arg(ir::Graph&, Node& n) {
  fb::ArgOptionsT o;
  TERN_RETURN_IF_ERROR(norm_axis(n, attr_int(P(n), "axis", 0), rank_of(n, 0), &o.axis));
  o.keepdims = attr_int(P(n), "keepdims", 1) != 0;
  o.select_last_index = attr_int(P(n), "select_last_index", 0) != 0;
  set(n, n.onnx_type == "ArgMax" ? OpType::ArgMax : OpType::ArgMin, std::move(o));
  return Status::ok();
}

Status lower_reshape(ir::Graph&, Node& n) {
  std::vector<int64_t> shape;
  if (find_attr(P(n), "shape")) shape = attr_ints(P(n), "shape");  // opsets before 5
  else TERN_RETURN_IF_ERROR(const_ints(n, 1, "shape", &shape));
  const Shape& x = input(n, 0)->shape;
  bool allowzero = attr_int(P(n), "allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowzero) {
      if (static_cast<int>(i) >= x.rank)
        return fail(n, StatusCode::kInvalidArgument, "shape entry %zu is 0 (copy) but the input %s has no axis %zu", i, x.str().c_str(), i);
      shape[i] = x[static_cast<int>(i)];
    }
    if (shape[i] == -1) {
      if (infer >= 0) return fail(n, StatusCode::kInvalidArgument, "shape has more than one -1");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      return fail(n, StatusCode::kInvalidArgument, "shape entry %zu is %lld", i, static_cast<long long>(shape[i]));
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known)
      return fail(n, StatusCode::kInvalidArgument, "cannot reshape %s (%lld elements) with a -1 into a multiple of %lld", x.str().c_str(),
                  static_cast<long long>(x.numel()), static_cast<long long>(known));
    shape[static_cast<size_t>(infer)] = x.numel() / known;
  }
  keep_inputs(n, 1);
  fb::ReshapeOptionsT o;
  o.shape = shape;
  set(n, OpType::Reshape, std::move(o));
  return Status::ok();
}

Status lower_flatten(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  int64_t axis = attr_int(P(n), "axis", 1);
  if (axis < -r || axis > r) return fail(n, StatusCode::kInvalidArgument, "axis %lld is outside [-%d, %d]", static_cast<long long>(axis), r, r);
  fb::AxisOptionsT o;
  o.axis = static_cast<int32_t>(axis < 0 ? axis + r : axis);
  set(n, OpType::Flatten, std::move(o));
  return Status::ok();
}

Status lower_squeeze(ir::Graph&, Node& n) {
  bool unsq = n.onnx_type == "Unsqueeze";
  std::vector<int64_t> axes = attr_ints(P(n), "axes");
  if (input(n, 1)) TERN_RETURN_IF_ERROR(const_ints(n, 1, "axes", &axes));
  keep_inputs(n, 1);
  const Shape& x = input(n, 0)->shape;
  int r = unsq ? x.rank + static_cast<int>(axes.size()) : x.rank;
  fb::AxesOptionsT o;
  if (!unsq && axes.empty()) {
    for (int i = 0; i < x.rank; ++i)
      if (x[i] == 1) o.axes.push_back(i);
  }
  for (int64_t a : axes) {
    int32_t na = 0;
    TERN_RETURN_IF_ERROR(norm_axis(n, a, r, &na, "axes entry"));
    o.axes.push_back(na);
  }
  std::sort(o.axes.begin(), o.axes.end());
  set(n, unsq ? OpType::Unsqueeze : OpType::Squeeze, std::move(o));
  return Status::ok();
}

Status lower_transpose(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  std::vector<int64_t> perm = attr_ints(P(n), "perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  fb::TransposeOptionsT o;
  for (int64_t p : perm) {
    int32_t np = 0;
    TERN_RETURN_IF_ERROR(norm_axis(n, p, r, &np, "perm entry"));
    o.perm.push_back(np);
  }
  set(n, OpType::Transpose, std::move(o));
  return Status::ok();
}

Status lower_axis_op(ir::Graph&, Node& n) {
  fb::AxisOptionsT o;
  int64_t axis = attr_int(P(n), "axis", 0);
  if (n.onnx_type == "Concat" && !find_attr(P(n), "axis")) axis = 1;  // opsets before 4 defaulted to 1
  TERN_RETURN_IF_ERROR(norm_axis(n, axis, rank_of(n, 0), &o.axis));
  set(n, n.onnx_type == "Concat" ? OpType::Concat : OpType::Gather, std::move(o));
  if (n.onnx_type == "Concat") {
    for (Value* v : n.inputs)
      if (!v) return fail(n, StatusCode::kInvalidArgument, "Concat inputs cannot be empty");
  }
  return Status::ok();
}

Status lower_split(ir::Graph&, Node& n) {
  const Shape& x = input(n, 0)->shape;
  fb::SplitOptionsT o;
  TERN_RETURN_IF_ERROR(norm_axis(n, attr_int(P(n), "axis", 0), x.rank, &o.axis));
  std::vector<int64_t> split = attr_ints(P(n), "split");
  if (input(n, 1)) TERN_RETURN_IF_ERROR(const_ints(n, 1, "split", &split));
  keep_inputs(n, 1);
  int64_t dim = x[o.axis];
  if (split.empty()) {
    int64_t parts = attr_int(P(n), "num_outputs", static_cast<int64_t>(n.outputs.size()));
    if (parts <= 0) return fail(n, StatusCode::kInvalidArgument, "cannot split into %lld parts", static_cast<long long>(parts));
    if (!find_attr(P(n), "num_outputs") && dim % parts)
      return fail(n, StatusCode::kInvalidArgument, "axis %d of size %lld does not split evenly into %lld outputs", o.axis,
                  static_cast<long long>(dim), static_cast<long long>(parts));
    int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i) split.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  o.split = split;
  set(n, OpType::Split, std::move(o));
  return Status::ok();
}

Status lower_slice(ir::Graph&, Node& n) {
  const Shape& x = input(n, 0)->shape;
  std::vector<int64_t> starts, ends, axes, steps;
  if (find_attr(P(n), "starts")) {  // opsets before 10
    starts = attr_ints(P(n), "starts");
    ends = attr_ints(P(n), "ends");
    axes = attr_ints(P(n), "axes");
  } else {
    TERN_RETURN_IF_ERROR(const_ints(n, 1, "starts", &starts));
    TERN_RETURN_IF_ERROR(const_ints(n, 2, "ends", &ends));
    if (input(n, 3)) TERN_RETURN_IF_ERROR(const_ints(n, 3, "axes", &axes));
    if (input(n, 4)) TERN_RETURN_IF_ERROR(const_ints(n, 4, "steps", &steps));
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return fail(n, StatusCode::kInvalidArgument, "starts, ends, axes and steps differ in length");
  keep_inputs(n, 1);
  fb::SliceOptionsT o;
  for (size_t i = 0; i < starts.size(); ++i) {
    int32_t a = 0;
    TERN_RETURN_IF_ERROR(norm_axis(n, axes[i], x.rank, &a, "axes entry"));
    int64_t dim = x[a], st = starts[i], en = ends[i], step = steps[i];
    if (step == 0) return fail(n, StatusCode::kInvalidArgument, "step on axis %d is 0", a);
    if (st < 0) st += dim;  // cannot overflow: dim >= 0
    if (en < 0) en += dim;
    if (step > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
      en = std::clamp<int64_t>(en, 0, dim);
    } else {
      st = std::clamp<int64_t>(st, 0, dim - 1);
      en = std::clamp<int64_t>(en, -1, dim - 1);
    }
    o.starts.push_back(st);
    o.ends.push_back(en);
    o.axes.push_back(a);
    o.steps.push_back(step);
  }
  set(n, OpType::Slice, std::move(o));
  return Status::ok();
}

Status lower_expand_tile(ir::Graph&, Node& n) {
  fb::ShapeListOptionsT o;
  TERN_RETURN_IF_ERROR(const_ints(n, 1, n.onnx_type == "Expand" ? "shape" : "repeats", &o.values));
  keep_inputs(n, 1);
  set(n, n.onnx_type == "Expand" ? OpType::Expand : OpType::Tile, std::move(o));
  return Status::ok();
}

Status lower_pad(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  fb::PadOptionsT o;
  std::vector<int64_t> pads = attr_ints(P(n), "pads");
  if (input(n, 1)) TERN_RETURN_IF_ERROR(const_ints(n, 1, "pads", &pads));
  if (find_attr(P(n), "value")) o.value = attr_float(P(n), "value", 0.f);
  if (input(n, 2)) {
    Value* cv = input(n, 2);
    if (!cv->is_constant()) return fail(n, StatusCode::kUnsupported, "constant_value must be a compile-time constant");
    if (cv->shape.numel() >= 1) {
      switch (cv->dtype) {
        case DType::Float32: o.value = cv->as<float>()[0]; break;
        case DType::Int64: o.value = static_cast<float>(cv->as<int64_t>()[0]); break;
        case DType::Int32: o.value = static_cast<float>(cv->as<int32_t>()[0]); break;
        default: return fail(n, StatusCode::kUnsupported, "constant_value of dtype %s", dtype_name(cv->dtype));
      }
    }
  }
  std::vector<int64_t> axes;
  if (input(n, 3)) TERN_RETURN_IF_ERROR(const_ints(n, 3, "axes", &axes));
  if (!axes.empty()) {
    if (pads.size() != 2 * axes.size()) return fail(n, StatusCode::kInvalidArgument, "pads must have two entries per listed axis");
    std::vector<int64_t> full(static_cast<size_t>(2 * r), 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      int32_t a = 0;
      TERN_RETURN_IF_ERROR(norm_axis(n, axes[i], r, &a, "axes entry"));
      full[static_cast<size_t>(a)] = pads[i];
      full[static_cast<size_t>(a + r)] = pads[i + axes.size()];
    }
    pads = full;
  }
  keep_inputs(n, 1);
  std::string mode = attr_string(P(n), "mode", "constant");
  if (mode == "constant") o.mode = fb::PadMode::Constant;
  else if (mode == "reflect") o.mode = fb::PadMode::Reflect;
  else if (mode == "edge") o.mode = fb::PadMode::Edge;
  else if (mode == "wrap") o.mode = fb::PadMode::Wrap;
  else return fail(n, StatusCode::kUnsupported, "mode '%s'", mode.c_str());
  o.pads = pads;
  set(n, OpType::Pad, std::move(o));
  return Status::ok();
}

Status lower_resize(ir::Graph& g, Node& n) {
  const Shape& x = input(n, 0)->shape;
  const auto& p = P(n);
  if (g.opset < 11) {  // Resize-10 takes (X, scales) and uses asymmetric coordinates
    n.inputs.resize(2);
    n.inputs.insert(n.inputs.begin() + 1, nullptr);
  }
  if (attr_int(p, "antialias", 0)) return fail(n, StatusCode::kUnsupported, "antialias=1 is not supported");
  std::string keep = attr_string(p, "keep_aspect_ratio_policy", "stretch");
  if (keep != "stretch") return fail(n, StatusCode::kUnsupported, "keep_aspect_ratio_policy '%s' is not supported", keep.c_str());
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (input(n, 2) && input(n, 2)->shape.numel() > 0) TERN_RETURN_IF_ERROR(const_floats(n, 2, "scales", &scales));
  if (input(n, 3) && input(n, 3)->shape.numel() > 0) TERN_RETURN_IF_ERROR(const_ints(n, 3, "sizes", &sizes));
  std::vector<int64_t> axes = attr_ints(p, "axes");
  int r = x.rank;
  auto expand = [&](auto& v, auto fill) {
    if (axes.empty() || v.empty()) return true;
    if (v.size() != axes.size()) return false;
    std::decay_t<decltype(v)> full(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) full[static_cast<size_t>(i)] = fill(i);
    for (size_t i = 0; i < axes.size(); ++i) full[static_cast<size_t>(axes[i] < 0 ? axes[i] + r : axes[i])] = v[i];
    v = full;
    return true;
  };
  if (!expand(scales, [](int) { return 1.f; }) || !expand(sizes, [&](int i) { return x[i]; }))
    return fail(n, StatusCode::kInvalidArgument, "scales/sizes do not match axes");
  fb::ResizeOptionsT o;
  if (!sizes.empty()) {
    if (static_cast<int>(sizes.size()) != r) return fail(n, StatusCode::kInvalidArgument, "sizes has %zu entries for rank %d", sizes.size(), r);
    for (int i = 0; i < r; ++i)
      o.scales.push_back(x[i] ? static_cast<float>(sizes[static_cast<size_t>(i)]) / static_cast<float>(x[i]) : 1.f);
    o.sizes = sizes;
  } else if (!scales.empty()) {
    if (static_cast<int>(scales.size()) != r) return fail(n, StatusCode::kInvalidArgument, "scales has %zu entries for rank %d", scales.size(), r);
    for (int i = 0; i < r; ++i) {
      if (!(scales[static_cast<size_t>(i)] > 0)) return fail(n, StatusCode::kInvalidArgument, "scale %d is not positive", i);
      o.sizes.push_back(static_cast<int64_t>(std::floor(static_cast<double>(x[i]) * scales[static_cast<size_t>(i)])));
    }
    o.scales = scales;
  } else {
    return fail(n, StatusCode::kInvalidArgument, "neither scales nor sizes is given");
  }
  std::string mode = attr_string(p, "mode", "nearest");
  if (mode == "nearest") o.mode = fb::ResizeMode::Nearest;
  else if (mode == "linear") o.mode = fb::ResizeMode::Linear;
  else if (mode == "cubic") o.mode = fb::ResizeMode::Cubic;
  else return fail(n, StatusCode::kInvalidArgument, "mode '%s'", mode.c_str());
  std::string ct = attr_string(p, "coordinate_transformation_mode", g.opset < 11 ? "asymmetric" : "half_pixel");
  static const std::unordered_map<std::string, fb::CoordinateTransform> kCt = {
      {"half_pixel", fb::CoordinateTransform::HalfPixel}, {"asymmetric", fb::CoordinateTransform::Asymmetric},
      {"align_corners", fb::CoordinateTransform::AlignCorners}, {"pytorch_half_pixel", fb::CoordinateTransform::PytorchHalfPixel},
      {"tf_crop_and_resize", fb::CoordinateTransform::TfCropAndResize}, {"half_pixel_symmetric", fb::CoordinateTransform::HalfPixelSymmetric}};
  auto it = kCt.find(ct);
  if (it == kCt.end() || it->second == fb::CoordinateTransform::TfCropAndResize)
    return fail(n, StatusCode::kUnsupported, "coordinate_transformation_mode '%s' is not supported", ct.c_str());
  o.coordinate_transformation_mode = it->second;
  std::string nm = attr_string(p, "nearest_mode", g.opset < 11 ? "floor" : "round_prefer_floor");
  if (nm == "round_prefer_floor") o.nearest_mode = fb::NearestMode::RoundPreferFloor;
  else if (nm == "round_prefer_ceil") o.nearest_mode = fb::NearestMode::RoundPreferCeil;
  else if (nm == "floor") o.nearest_mode = fb::NearestMode::Floor;
  else if (nm == "ceil") o.nearest_mode = fb::NearestMode::Ceil;
  else return fail(n, StatusCode::kInvalidArgument, "nearest_mode '%s'", nm.c_str());
  o.cubic_coeff_a = attr_float(p, "cubic_coeff_a", -0.75f);
  o.exclude_outside = attr_int(p, "exclude_outside", 0) != 0;
  o.extrapolation_value = attr_float(p, "extrapolation_value", 0.f);
  keep_inputs(n, 1);
  set(n, OpType::Resize, std::move(o));
  return Status::ok();
}

Status lower_cast(ir::Graph&, Node& n) {
  fb::CastOptionsT o;
  if (n.onnx_type == "CastLike") {
    o.to = input(n, 1)->dtype;
    keep_inputs(n, 1);
  } else {
    auto dt = dtype_from_onnx(static_cast<int>(attr_int(P(n), "to", 1)));
    if (!dt.is_ok()) return fail(n, dt.status().code(), "%s", dt.status().message().c_str());
    o.to = *dt;
  }
  set(n, OpType::Cast, std::move(o));
  return Status::ok();
}

Status lower_constant_of_shape(ir::Graph&, Node& n) {
  fb::FillOptionsT o;
  TERN_RETURN_IF_ERROR(const_ints(n, 0, "input", &o.shape));
  o.dtype = DType::Float32;
  if (const auto* a = find_attr(P(n), "value")) {
    auto c = tensor_from_proto(a->t(), "");
    if (!c.is_ok()) return fail(n, c.status().code(), "value: %s", c.status().message().c_str());
    if (c->shape.numel() != 1) return fail(n, StatusCode::kInvalidArgument, "value must hold one element");
    o.dtype = c->dtype;
    switch (c->dtype) {
      case DType::Float32: o.value = reinterpret_cast<const float*>(c->bytes.data())[0]; break;
      case DType::Int64: o.value = static_cast<double>(reinterpret_cast<const int64_t*>(c->bytes.data())[0]); break;
      case DType::Int32: o.value = reinterpret_cast<const int32_t*>(c->bytes.data())[0]; break;
      case DType::Bool: case DType::UInt8: o.value = c->bytes[0]; break;
      case DType::Int8: o.value = static_cast<int8_t>(c->bytes[0]); break;
      default: return fail(n, StatusCode::kUnsupported, "value of dtype %s", dtype_name(c->dtype));
    }
  }
  n.inputs.clear();
  set(n, OpType::ConstantOfShape, std::move(o));
  return Status::ok();
}

Status lower_shape(ir::Graph&, Node& n) {
  int r = rank_of(n, 0);
  int64_t start = attr_int(P(n), "start", 0), end = attr_int(P(n), "end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  fb::ShapeOptionsT o;
  o.start = static_cast<int32_t>(std::clamp<int64_t>(start, 0, r));
  o.end = static_cast<int32_t>(std::clamp<int64_t>(end, 0, r));
  if (o.end < o.start) o.end = o.start;
  set(n, OpType::Shape, std::move(o));
  return Status::ok();
}

Status lower_dropout(ir::Graph& g, Node& n) {
  // Inference Dropout is Identity; training mode would drop values at random.
  if (Value* tm = input(n, 2)) {
    if (!tm->is_constant() || tm->dtype != DType::Bool || tm->shape.numel() != 1)
      return fail(n, StatusCode::kUnsupported, "training_mode must be a constant false (dropout at run time is training)");
    if (tm->data->at(0)) return fail(n, StatusCode::kUnsupported, "training_mode is true: dropout at run time is training, not inference");
  }
  TERN_RETURN_IF_ERROR(keep_outputs(g, n, 1));
  keep_inputs(n, 1);
  set(n, OpType::Identity);
  return Status::ok();
}

Status lower_size(ir::Graph&, Node& n) {
  // Size = product of Shape: expressed as ConstantOfShape-free constant at fold time.
  fb::FillOptionsT o;
  o.dtype = DType::Int64;
  o.value = static_cast<double>(input(n, 0)->shape.numel());
  n.inputs.clear();
  set(n, OpType::ConstantOfShape, std::move(o));
  return Status::ok();
}

Status lower_selective_scan(ir::Graph&, Node& n) {
  fb::SelectiveScanOptionsT o;
  o.delta_softplus = attr_int(P(n), "delta_softplus", 1) != 0;
  set(n, OpType::SelectiveScan, std::move(o));
  return Status::ok();
}

Status lower_lmu(ir::Graph&, Node& n) {
  set(n, OpType::LMU);
  return Status::ok();
}

Status lower_lif(ir::Graph&, Node& n) {
  fb::LIFOptionsT o;
  o.tau = attr_float(P(n), "tau", 2.f);
  o.v_threshold = attr_float(P(n), "v_threshold", 1.f);
  o.v_reset = attr_float(P(n), "v_reset", 0.f);
  o.soft_reset = attr_int(P(n), "soft_reset", 0) != 0;
  TERN_RETURN_IF_ERROR(norm_axis(n, attr_int(P(n), "time_axis", 1), rank_of(n, 0), &o.time_axis, "time_axis"));
  set(n, OpType::LIF, std::move(o));
  return Status::ok();
}

using LowerFn = Status (*)(ir::Graph&, Node&);

const std::unordered_map<std::string, LowerFn>& default_domain() {
  static const std::unordered_map<std::string, LowerFn> t = {
      {"Conv", lower_conv}, {"ConvTranspose", lower_conv_transpose}, {"Gemm", lower_gemm}, {"MatMul", lower_matmul},
      {"BatchNormalization", lower_batch_norm}, {"LayerNormalization", lower_layer_norm},
      {"GroupNormalization", lower_group_norm}, {"InstanceNormalization", lower_instance_norm},
      {"Add", lower_simple}, {"Sub", lower_simple}, {"Mul", lower_simple}, {"Div", lower_simple}, {"Pow", lower_simple},
      {"Equal", lower_simple}, {"Less", lower_simple}, {"Greater", lower_simple}, {"LessOrEqual", lower_simple},
      {"GreaterOrEqual", lower_simple}, {"And", lower_simple}, {"Or", lower_simple}, {"PRelu", lower_simple},
      {"Relu", lower_simple}, {"Sigmoid", lower_simple}, {"HardSwish", lower_simple}, {"Tanh", lower_simple},
      {"Erf", lower_simple}, {"Exp", lower_simple}, {"Log", lower_simple}, {"Sqrt", lower_simple}, {"Neg", lower_simple},
      {"Abs", lower_simple}, {"Softplus", lower_simple}, {"Reciprocal", lower_simple}, {"Floor", lower_simple},
      {"Ceil", lower_simple}, {"Round", lower_simple}, {"Sin", lower_simple}, {"Cos", lower_simple}, {"Not", lower_simple},
      {"Sign", lower_simple}, {"Where", lower_simple}, {"GlobalAveragePool", lower_simple}, {"GlobalMaxPool", lower_simple},
      {"Identity", lower_simple}, {"Range", lower_simple},
      {"Sum", lower_variadic}, {"Min", lower_variadic}, {"Max", lower_variadic}, {"Mean", lower_variadic},
      {"HardSigmoid", lower_alpha_beta}, {"LeakyRelu", lower_alpha_beta}, {"Elu", lower_alpha_beta},
      {"Clip", lower_clip}, {"Softmax", lower_softmax}, {"LogSoftmax", lower_softmax},
      {"ReduceMean", lower_reduce}, {"ReduceSum", lower_reduce}, {"ReduceMax", lower_reduce}, {"ReduceMin", lower_reduce},
      {"ReduceProd", lower_reduce}, {"ArgMax", lower_arg}, {"ArgMin", lower_arg},
      {"AveragePool", lower_pool}, {"MaxPool", lower_pool},
      {"Reshape", lower_reshape}, {"Flatten", lower_flatten}, {"Squeeze", lower_squeeze}, {"Unsqueeze", lower_squeeze},
      {"Transpose", lower_transpose}, {"Concat", lower_axis_op}, {"Gather", lower_axis_op}, {"Split", lower_split},
      {"Slice", lower_slice}, {"Expand", lower_expand_tile}, {"Tile", lower_expand_tile}, {"Pad", lower_pad},
      {"Resize", lower_resize}, {"Cast", lower_cast}, {"CastLike", lower_cast}, {"ConstantOfShape", lower_constant_of_shape},
      {"Shape", lower_shape}, {"Size", lower_size}, {"Dropout", lower_dropout},
  };
  return t;
}

const std::unordered_map<std::string, LowerFn>& tern_domain() {
  static const std::unordered_map<std::string, LowerFn> t = {
      {"SelectiveScan", lower_selective_scan}, {"LMU", lower_lmu}, {"LIF", lower_lif}};
  return t;
}

const std::unordered_map<std::string, LowerFn>* table_for(const std::string& domain) {
  if (domain.empty() || domain == "ai.onnx") return &default_domain();
  if (domain == "tern") return &tern_domain();
  return nullptr;
}

}  // namespace

bool is_supported_onnx_op(const std::string& domain, const std::string& op_type) {
  if ((domain.empty() || domain == "ai.onnx") && op_type == "Constant") return true;
  const auto* t = table_for(domain);
  return t && t->count(op_type);
}

Status lower_node(ir::Graph& g, ir::Node& n) {
  const auto* t = table_for(n.onnx_domain);
  auto it = t ? t->find(n.onnx_type) : decltype(t->end()){};
  if (!t || it == t->end()) return fail(n, StatusCode::kUnsupported, "this op is not supported");
  if (n.onnx_type == "Softmax" || n.onnx_type == "LogSoftmax") {
    // Before opset 13, softmax flattened the input to 2-D at `axis` (default 1); that equals the
    // opset-13 op only when the axis is the last one.
    if (g.opset < 13) {
      int r = rank_of(n, 0);
      int64_t axis = attr_int(P(n), "axis", 1);
      if ((axis < 0 ? axis + r : axis) != r - 1)
        return fail(n, StatusCode::kUnsupported, "opset-%lld softmax over axes %lld..%d (2-D coercion) is not supported; re-export with opset 13+",
                    static_cast<long long>(g.opset), static_cast<long long>(axis), r - 1);
    }
  }
  // Opsets before 7 broadcast binary ops by an explicit axis, not numpy-style.
  if (find_attr(P(n), "broadcast") && attr_int(P(n), "broadcast", 0) != 0)
    return fail(n, StatusCode::kUnsupported, "the legacy 'broadcast' attribute (opsets before 7) is not supported; re-export with opset 13+");
  TERN_RETURN_IF_ERROR(it->second(g, n));
  n.lowered = true;
  return Status::ok();
}

}  // namespace tern::compiler
