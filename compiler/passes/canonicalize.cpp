#include "ops/op_defs.h"
#include "passes/pass.h"

namespace tern::compiler {

namespace {

void to_reshape(ir::Node& n) {
  fb::ReshapeOptionsT o;
  o.shape = n.outputs[0]->shape.vec();
  n.op = OpType::Reshape;
  n.options.Set(std::move(o));
}

}  // namespace

Status canonicalize(ir::Graph& g, PassLog& log) {
  size_t before = g.nodes().size();
  uint32_t converted = 0, removed = 0, merged = 0, dropped_outputs = 0;
  for (auto& n : g.nodes())
    if (n->op != OpType::Reshape && ops::is_reshape_like(n->op)) {
      to_reshape(*n);
      ++converted;
    }
  // Reshape(Reshape(x)) -> Reshape(x) when the inner result has no other use; Reshape to the same
  // shape -> x when the result is not a graph output (whose name must survive).
  bool changed = true;
  while (changed) {
    changed = false;
    auto users = g.users();
    std::vector<ir::Node*> dead;
    for (auto& up : g.nodes()) {
      ir::Node& n = *up;
      if (n.op != OpType::Reshape) continue;
      ir::Value* in = n.inputs[0];
      ir::Value* out = n.outputs[0];
      if (in->producer && in->producer->op == OpType::Reshape && !in->is_graph_output && users[in].size() == 1) {
        n.inputs[0] = in->producer->inputs[0];
        dead.push_back(in->producer);
        ++merged;
        changed = true;
        break;
      }
      if (in->shape == out->shape && !out->is_graph_output) {
        g.replace_uses(out, in);
        dead.push_back(&n);
        ++removed;
        changed = true;
        break;
      }
    }
    g.erase_nodes(dead);
  }
  // Optional trailing outputs nobody reads (a scan's final state when not streaming) are not
  // computed or stored.
  auto users = g.users();
  for (auto& n : g.nodes()) {
    const ops::OpDef* def = ops::op_def(n->op);
    for (size_t i = static_cast<size_t>(def->min_outputs); i < n->outputs.size(); ++i) {
      ir::Value* v = n->outputs[i];
      if (v && !v->is_graph_output && !users.count(v) &&
          (n->op == OpType::SelectiveScan || n->op == OpType::LMU || n->op == OpType::LIF)) {
        v->producer = nullptr;
        n->outputs[i] = nullptr;
        ++dropped_outputs;
      }
    }
  }
  log.add("canonicalize-reshapes", "Flatten/Squeeze/Unsqueeze/Identity -> Reshape", converted, before, g.nodes().size());
  log.add("merge-reshapes", "Reshape-Reshape", merged, before, g.nodes().size());
  log.add("remove-noop-reshapes", "Reshape to the same shape", removed, before, g.nodes().size());
  if (dropped_outputs) log.add("drop-unused-state-outputs", "unread final-state outputs of scans", dropped_outputs, before, g.nodes().size());
  return Status::ok();
}

Status eliminate_dead_code(ir::Graph& g, PassLog& log) {
  size_t before = g.nodes().size();
  size_t removed = g.remove_dead();
  log.add("dead-code", "nodes no output depends on", static_cast<uint32_t>(removed), before, g.nodes().size());
  return Status::ok();
}

}  // namespace tern::compiler
