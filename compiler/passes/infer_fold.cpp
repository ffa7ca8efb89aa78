#include <cstring>

#include "import/onnx_lower.h"
#include "ops/op_defs.h"
#include "passes/pass.h"
#include "reference/kernel.h"

namespace tern::compiler {

namespace {

// Output bytes up to which a constant subexpression is folded even when it is larger than its
// inputs (an Expand of a small constant, a ConstantOfShape mask): beyond it, the plan would grow
// more than the work saved.
constexpr size_t kFoldGrowthAllowance = size_t{1} << 20;

Status infer_one(ir::Node& n, std::vector<TensorInfo>& out) {
  std::vector<TensorInfo> in(n.inputs.size());
  std::vector<const TensorInfo*> in_ptrs(n.inputs.size(), nullptr);
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i]) {
      in[i] = n.inputs[i]->info();
      in_ptrs[i] = &in[i];
    }
  out.assign(n.outputs.size(), TensorInfo{});
  ops::InferContext ic;
  ic.node_name = n.name.c_str();
  ic.op = n.op;
  ic.options = &n.options;
  ic.inputs = in_ptrs;
  ic.outputs = out;
  return ops::infer_node(ic);
}

// Evaluates a node with the reference kernels, turning its outputs into constants.
Status fold(ir::Node& n) {
  std::vector<TensorRef> in(n.inputs.size()), out(n.outputs.size());
  std::vector<const TensorRef*> in_ptrs(n.inputs.size(), nullptr), out_ptrs(n.outputs.size(), nullptr);
  std::vector<std::vector<uint8_t>> buffers(n.outputs.size());
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i]) {
      ir::Value* v = n.inputs[i];
      in[i] = {v->dtype, v->shape, const_cast<uint8_t*>(v->data->data()), nullptr};
      in_ptrs[i] = &in[i];
    }
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (n.outputs[i]) {
      ir::Value* v = n.outputs[i];
      buffers[i].assign(v->bytes(), 0);
      out[i] = {v->dtype, v->shape, buffers[i].data(), nullptr};
      out_ptrs[i] = &out[i];
    }
  ref::KernelContext kc;
  kc.node_name = n.name.c_str();
  kc.op = n.op;
  kc.options = &n.options;
  kc.inputs = in_ptrs;
  kc.outputs = out_ptrs;
  TERN_RETURN_IF_ERROR(ref::run_node_once(kc));
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (n.outputs[i]) {
      n.outputs[i]->data = std::make_shared<const std::vector<uint8_t>>(std::move(buffers[i]));
      n.outputs[i]->producer = nullptr;
    }
  return Status::ok();
}

}  // namespace

Status infer_and_fold(ir::Graph& g, PassLog& log) {
  size_t before = g.nodes().size();
  uint32_t folded = 0;
  std::vector<ir::Node*> dead;
  for (auto& up : g.nodes()) {
    ir::Node& n = *up;
    for (ir::Value* v : n.inputs)
      if (v && !v->known)
        return TERN_ERROR(kInternal, "%s reads '%s' before its shape is known", n.label().c_str(), v->name.c_str());
    if (!n.lowered) TERN_RETURN_IF_ERROR(lower_node(g, n));
    std::vector<TensorInfo> out;
    Status s = infer_one(n, out);
    if (!s.is_ok()) {
      std::string shapes;
      for (ir::Value* v : n.inputs)
        shapes += (shapes.empty() ? "" : ", ") + (v ? v->name + " " + dtype_name(v->dtype) + v->shape.str() : std::string("<absent>"));
      return Status(s.code(), s.message() + " (inputs: " + shapes + ")");
    }
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (ir::Value* v = n.outputs[i]) {
        v->dtype = out[i].dtype;
        v->shape = out[i].shape;
        v->known = true;
      }
    // Shape needs only its input's (static) shape.
    bool foldable = n.op == OpType::Shape;
    if (!foldable && ref::kernel_for(n.op).run) {
      bool all_const = true;
      size_t in_bytes = 0, out_bytes = 0;
      for (ir::Value* v : n.inputs)
        if (v) {
          all_const &= v->is_constant();
          in_bytes += v->bytes();
        }
      for (ir::Value* v : n.outputs)
        if (v) out_bytes += v->bytes();
      bool no_graph_input_output = true;
      for (ir::Value* v : n.outputs) no_graph_input_output &= !v || !v->is_graph_output;
      foldable = all_const && (out_bytes <= 2 * in_bytes || out_bytes <= kFoldGrowthAllowance) && no_graph_input_output;
    }
    if (foldable) {
      if (n.op == OpType::Shape) {
        const auto& o = *static_cast<const fb::ShapeOptionsT*>(n.options.value);
        const Shape& xs = n.inputs[0]->shape;
        std::vector<uint8_t> bytes(static_cast<size_t>(o.end - o.start) * 8);
        for (int d = o.start; d < o.end; ++d) std::memcpy(bytes.data() + (d - o.start) * 8, &xs.dims[d], 8);
        n.outputs[0]->data = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
        n.outputs[0]->producer = nullptr;
      } else {
        TERN_RETURN_IF_ERROR(fold(n));
      }
      dead.push_back(&n);
      ++folded;
    }
  }
  g.erase_nodes(dead);
  log.add("fold-constants", "nodes whose inputs are all compile-time constants (Shape chains, weight transforms)", folded, before,
          g.nodes().size());
  return Status::ok();
}

Status verify_graph(const ir::Graph& g) {
  for (const auto& up : g.nodes()) {
    ir::Node& n = *up;
    std::vector<TensorInfo> out;
    Status s = infer_one(n, out);
    if (!s.is_ok()) return Status(StatusCode::kInternal, "after a rewrite: " + s.message());
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (ir::Value* v = n.outputs[i])
        if (v->dtype != out[i].dtype || v->shape != out[i].shape)
          return TERN_ERROR(kInternal, "after a rewrite, %s output '%s' is recorded as %s%s but infers as %s%s", n.label().c_str(),
                            v->name.c_str(), dtype_name(v->dtype), v->shape.str().c_str(), dtype_name(out[i].dtype),
                            out[i].shape.str().c_str());
  }
  return Status::ok();
}

}  // namespace tern::compiler
