#include "import/onnx_import.h"

#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "import/onnx_tensor.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"

namespace tern::compiler {

namespace {

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

std::string dims_text(const onnx::TensorShapeProto& s) {
  std::string t;
  for (int i = 0; i < s.dim_size(); ++i) {
    if (i) t += 'x';
    const auto& d = s.dim(i);
    if (d.has_dim_value()) t += std::to_string(d.dim_value());
    else if (d.has_dim_param() && !d.dim_param().empty()) t += d.dim_param();
    else t += '?';
  }
  return "[" + t + "]";
}

}  // namespace

Result<InputShape> parse_input_shape(const std::string& arg) {
  size_t eq = arg.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
    return TERN_ERROR(kInvalidArgument, "--input-shape '%s' must look like NAME=1x3x224x224", arg.c_str());
  InputShape s;
  s.name = arg.substr(0, eq);
  std::string dims = arg.substr(eq + 1);
  size_t i = 0;
  while (i <= dims.size()) {
    size_t j = dims.find_first_of("x,", i);
    if (j == std::string::npos) j = dims.size();
    std::string tok = dims.substr(i, j - i);
    if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 12)
      return TERN_ERROR(kInvalidArgument, "--input-shape '%s': '%s' is not a dimension (use non-negative integers, e.g. 1x3x224x224)",
                        arg.c_str(), tok.c_str());
    s.dims.push_back(std::stoll(tok));
    i = j + 1;
  }
  if (s.dims.size() > static_cast<size_t>(kMaxRank))
    return TERN_ERROR(kUnsupported, "--input-shape '%s': rank %zu exceeds %d", arg.c_str(), s.dims.size(), kMaxRank);
  return s;
}

Result<ImportResult> import_onnx(const std::string& path, const std::vector<InputShape>& input_shapes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return TERN_ERROR(kIoError, "cannot open ONNX model '%s'", path.c_str());
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty()) return TERN_ERROR(kInvalidArgument, "'%s' is empty, not an ONNX model", path.c_str());
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    return TERN_ERROR(kInvalidArgument, "'%s' is not a valid ONNX model: the protobuf does not parse (truncated or not ONNX)",
                      path.c_str());
  if (!model.has_graph() || (model.graph().node_size() == 0 && model.graph().output_size() == 0))
    return TERN_ERROR(kInvalidArgument, "'%s' holds no graph (truncated or not an ONNX model)", path.c_str());

  ImportResult result;
  result.sha256 = sha256_hex(bytes);
  result.file_bytes = bytes.size();
  auto g = std::make_unique<ir::Graph>();
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") g->opset = op.version();
  if (g->opset == 0) return TERN_ERROR(kInvalidArgument, "'%s' imports no default-domain opset", path.c_str());
  // Opsets 13-17 are Tern's target; older models are read where an op's semantics are known.
  if (g->opset > 21)
    return TERN_ERROR(kUnsupported, "'%s' uses opset %lld, newer than Tern knows (21)", path.c_str(), static_cast<long long>(g->opset));
  g->producer = model.producer_name() + (model.producer_version().empty() ? "" : " " + model.producer_version());
  g->model_name = std::filesystem::path(path).filename().string();

  // Structural validation by the ONNX checker (it knows opsets up to 17; newer models skip it).
  if (g->opset <= 17) {
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      std::string what = e.what();
      while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
      return TERN_ERROR(kInvalidArgument, "'%s' fails the ONNX checker: %s", path.c_str(), what.c_str());
    }
  }

  const onnx::GraphProto& gp = model.graph();
  std::string base_dir = std::filesystem::path(path).parent_path().string();

  // Every unsupported op, all at once.
  {
    std::string list;
    int count = 0;
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& n = gp.node(i);
      if (!is_supported_onnx_op(n.domain(), n.op_type())) {
        if (count < 50) {
          list += count ? ", " : "";
          list += "'" + (n.name().empty() ? "#" + std::to_string(i) : n.name()) + "' (" +
                  (n.domain().empty() ? "" : n.domain() + ".") + n.op_type() + ")";
        }
        ++count;
      }
    }
    if (count)
      return TERN_ERROR(kUnsupported, "'%s' has %d node%s with ops Tern does not support: %s%s", path.c_str(), count,
                        count == 1 ? "" : "s", list.c_str(), count > 50 ? ", ..." : "");
  }

  std::unordered_map<std::string, ir::Value*> by_name;
  // Initializers are constants.
  for (const auto& t : gp.initializer()) {
    auto c = tensor_from_proto(t, base_dir);
    if (!c.is_ok()) return Status(c.status().code(), "initializer '" + t.name() + "': " + c.status().message());
    ir::Value* v = g->add_constant(t.name(), c->dtype, c->shape, std::move(c->bytes));
    by_name[t.name()] = v;
  }
  // Graph inputs (those not also initializers).
  std::set<std::string> used_overrides;
  std::string open_dims;
  for (const auto& in : gp.input()) {
    if (by_name.count(in.name())) continue;
    ir::Value* v = g->add_value(in.name());
    v->is_graph_input = true;
    g->inputs.push_back(v);
    by_name[in.name()] = v;
    if (!in.type().has_tensor_type())
      return TERN_ERROR(kUnsupported, "graph input '%s' is not a tensor (sequences and maps are not supported)", in.name().c_str());
    const auto& tt = in.type().tensor_type();
    auto dt = dtype_from_onnx(tt.elem_type());
    if (!dt.is_ok()) return Status(dt.status().code(), "graph input '" + in.name() + "': " + dt.status().message());
    v->dtype = *dt;
    const InputShape* ov = nullptr;
    for (const auto& s : input_shapes)
      if (s.name == in.name()) ov = &s;
    if (ov) used_overrides.insert(ov->name);
    if (tt.has_shape()) {
      const auto& sp = tt.shape();
      if (sp.dim_size() > kMaxRank)
        return TERN_ERROR(kUnsupported, "graph input '%s' has rank %d; at most %d is supported", in.name().c_str(), sp.dim_size(), kMaxRank);
      if (ov && static_cast<int>(ov->dims.size()) != sp.dim_size())
        return TERN_ERROR(kInvalidArgument, "--input-shape %s has rank %zu but the model's input is %s (rank %d)", in.name().c_str(),
                          ov->dims.size(), dims_text(sp).c_str(), sp.dim_size());
      v->shape.rank = sp.dim_size();
      v->dim_params.assign(static_cast<size_t>(sp.dim_size()), "");
      std::string open;
      for (int d = 0; d < sp.dim_size(); ++d) {
        const auto& dim = sp.dim(d);
        if (dim.has_dim_value() && dim.dim_value() >= 0) {
          v->shape[d] = dim.dim_value();
          if (ov && ov->dims[static_cast<size_t>(d)] != dim.dim_value())
            return TERN_ERROR(kInvalidArgument, "--input-shape %s gives %lld for axis %d, but the model fixes it to %lld (input %s)",
                              in.name().c_str(), static_cast<long long>(ov->dims[static_cast<size_t>(d)]), d,
                              static_cast<long long>(dim.dim_value()), dims_text(sp).c_str());
        } else {
          v->dim_params[static_cast<size_t>(d)] = dim.has_dim_param() && !dim.dim_param().empty() ? dim.dim_param() : "?";
          if (ov) v->shape[d] = ov->dims[static_cast<size_t>(d)];
          else open += (open.empty() ? "" : ", ") + v->dim_params[static_cast<size_t>(d)];
        }
      }
      if (!open.empty())
        open_dims += str_format("%sinput '%s' %s has open dims (%s)", open_dims.empty() ? "" : "; ", in.name().c_str(),
                                dims_text(sp).c_str(), open.c_str());
    } else if (ov) {
      v->shape = Shape::from(ov->dims);
    } else {
      open_dims += str_format("%sinput '%s' has no shape at all", open_dims.empty() ? "" : "; ", in.name().c_str());
    }
    v->known = true;
  }
  for (const auto& s : input_shapes)
    if (!used_overrides.count(s.name)) {
      std::string names;
      for (ir::Value* v : g->inputs) names += (names.empty() ? "" : ", ") + v->name;
      return TERN_ERROR(kInvalidArgument, "--input-shape names '%s', which is not a graph input (inputs: %s)", s.name.c_str(),
                        names.c_str());
    }
  if (!open_dims.empty()) {
    std::string example;
    for (ir::Value* v : g->inputs) {
      bool open = false;
      for (const auto& p : v->dim_params) open |= !p.empty();
      if (!open && v->shape.rank > 0) continue;
      example += " --input-shape " + v->name + "=";
      for (int d = 0; d < v->shape.rank; ++d)
        example += (d ? "x" : "") + (v->dim_params[static_cast<size_t>(d)].empty() ? std::to_string(v->shape[d]) : std::string("N"));
    }
    return TERN_ERROR(kInvalidArgument, "dynamic dimensions are left open: %s. Fix them at compile time, e.g.%s", open_dims.c_str(),
                      example.c_str());
  }

  // Nodes. Constant nodes become constant values right away.
  int anon = 0;
  std::vector<onnx::NodeProto> expanded;
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    std::string domain = np.domain() == "ai.onnx" ? "" : np.domain();
    std::string name = np.name().empty() ? np.op_type() + "_" + std::to_string(anon++) : np.name();
    if (domain.empty() && np.op_type() == "Constant") {
      auto c = constant_node_value(np, base_dir);
      if (!c.is_ok()) return Status(c.status().code(), "node '" + name + "' (Constant): " + c.status().message());
      if (np.output_size() != 1) return TERN_ERROR(kInvalidArgument, "node '%s' (Constant) must have one output", name.c_str());
      by_name[np.output(0)] = g->add_constant(np.output(0), c->dtype, c->shape, std::move(c->bytes));
      continue;
    }
    // Variadic Sum/Min/Max with more than two inputs, and Mean with more than one, become chains of
    // binary nodes (Mean divides by the count at the end), so lowering only sees 1:1 ops.
    bool variadic = domain.empty() && (np.op_type() == "Sum" || np.op_type() == "Min" || np.op_type() == "Max" || np.op_type() == "Mean");
    if (variadic && np.input_size() > (np.op_type() == "Mean" ? 1 : 2) && np.output_size() == 1) {
      std::string bin = np.op_type() == "Sum" || np.op_type() == "Mean" ? "Add" : np.op_type();
      std::string acc = np.input(0);
      int k = np.input_size();
      for (int j = 1; j < k; ++j) {
        bool last = j == k - 1 && np.op_type() != "Mean";
        onnx::NodeProto step;
        step.set_op_type(bin);
        step.set_name(name + "/" + bin + std::to_string(j));
        step.add_input(acc);
        step.add_input(np.input(j));
        std::string out = last ? np.output(0) : g->unique_name(name + "/partial" + std::to_string(j));
        if (!last) g->reserve_name(out);
        step.add_output(out);
        expanded.push_back(step);
        acc = out;
      }
      if (np.op_type() == "Mean") {
        std::string count_name = g->unique_name(name + "/count");
        float kf = static_cast<float>(k);
        std::vector<uint8_t> kb(4);
        std::memcpy(kb.data(), &kf, 4);
        by_name[count_name] = g->add_constant(count_name, DType::Float32, Shape{}, std::move(kb));
        onnx::NodeProto div;
        div.set_op_type("Div");
        div.set_name(name + "/Div");
        div.add_input(acc);
        div.add_input(count_name);
        div.add_output(np.output(0));
        expanded.push_back(div);
      }
    } else {
      expanded.push_back(np);
    }
  }
  for (const onnx::NodeProto& np : expanded) {
    std::string domain = np.domain() == "ai.onnx" ? "" : np.domain();
    std::string name = np.name().empty() ? np.op_type() + "_" + std::to_string(anon++) : np.name();
    ir::Node* n = g->add_node(name);
    n->onnx_type = np.op_type();
    n->onnx_domain = domain;
    n->proto = std::make_shared<onnx::NodeProto>(np);
    for (const auto& in : np.input()) {
      if (in.empty()) {
        n->inputs.push_back(nullptr);
        continue;
      }
      auto it = by_name.find(in);
      if (it == by_name.end()) {
        // may be produced by a later node (unsorted graph): create a placeholder now
        ir::Value* v = g->add_value(in);
        by_name[in] = v;
        n->inputs.push_back(v);
      } else {
        n->inputs.push_back(it->second);
      }
    }
    for (const auto& out : np.output()) {
      if (out.empty()) {
        n->outputs.push_back(nullptr);
        continue;
      }
      ir::Value* v;
      auto it = by_name.find(out);
      if (it != by_name.end()) {
        v = it->second;
        if (v->producer || v->is_constant() || v->is_graph_input)
          return TERN_ERROR(kInvalidArgument, "node '%s' writes '%s', which is already defined (ONNX graphs are SSA)", name.c_str(),
                            out.c_str());
      } else {
        v = g->add_value(out);
        by_name[out] = v;
      }
      v->producer = n;
      n->outputs.push_back(v);
    }
  }
  for (const auto& out : gp.output()) {
    auto it = by_name.find(out.name());
    if (it == by_name.end())
      return TERN_ERROR(kInvalidArgument, "graph output '%s' is not produced by any node", out.name().c_str());
    it->second->is_graph_output = true;
    g->outputs.push_back(it->second);
  }
  TERN_RETURN_IF_ERROR(g->toposort());
  result.graph = std::move(g);
  return result;
}

}  // namespace tern::compiler
