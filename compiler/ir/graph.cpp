#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "ops/op_defs.h"

namespace tern::ir {

std::string Node::label() const {
  return "node '" + name + "' (" + (lowered ? std::string(ops::op_name(op)) : (onnx_domain.empty() ? onnx_type : onnx_domain + "." + onnx_type)) + ")";
}

Value* Graph::add_value(const std::string& name) {
  values_.push_back(std::make_unique<Value>());
  values_.back()->name = name;
  name_counts_[name]++;
  return values_.back().get();
}

Value* Graph::add_constant(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> bytes) {
  Value* v = add_value(name);
  v->dtype = dtype;
  v->shape = shape;
  v->known = true;
  v->data = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  return v;
}

Node* Graph::add_node(const std::string& name) {
  nodes_.push_back(std::make_unique<Node>());
  nodes_.back()->name = name;
  return nodes_.back().get();
}

std::string Graph::unique_name(const std::string& base) {
  if (!name_counts_.count(base)) return base;
  for (int i = name_counts_[base];; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (!name_counts_.count(n)) return n;
  }
}

Status Graph::toposort() {
  std::unordered_set<const Value*> ready;
  for (const auto& v : values_)
    if (v->is_constant() || v->is_graph_input) ready.insert(v.get());
  std::vector<std::unique_ptr<Node>> sorted;
  std::vector<std::unique_ptr<Node>> pending = std::move(nodes_);
  nodes_.clear();
  bool progress = true;
  while (!pending.empty() && progress) {
    progress = false;
    std::vector<std::unique_ptr<Node>> rest;
    for (auto& n : pending) {
      bool ok = true;
      for (Value* in : n->inputs) ok &= !in || ready.count(in);
      if (ok) {
        for (Value* out : n->outputs)
          if (out) ready.insert(out);
        sorted.push_back(std::move(n));
        progress = true;
      } else {
        rest.push_back(std::move(n));
      }
    }
    pending = std::move(rest);
  }
  if (!pending.empty()) {
    std::string which;
    for (auto& n : pending) {
      for (Value* in : n->inputs)
        if (in && !ready.count(in) && !in->producer) {
          which = n->label() + " reads '" + in->name + "', which no node, initializer or graph input defines";
          break;
        }
      if (!which.empty()) break;
    }
    if (which.empty()) which = pending.front()->label() + " is part of a cycle";
    std::string msg = "the graph cannot be ordered: " + which;
    for (auto& n : pending) sorted.push_back(std::move(n));
    nodes_ = std::move(sorted);
    return Status(StatusCode::kInvalidArgument, msg);
  }
  nodes_ = std::move(sorted);
  return Status::ok();
}

std::unordered_map<const Value*, std::vector<Node*>> Graph::users() const {
  std::unordered_map<const Value*, std::vector<Node*>> u;
  for (const auto& n : nodes_)
    for (Value* in : n->inputs)
      if (in) u[in].push_back(n.get());
  return u;
}

void Graph::replace_uses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (Value*& in : n->inputs)
      if (in == from) in = to;
  for (Value*& o : outputs)
    if (o == from) {
      o = to;
      to->is_graph_output = true;
    }
}

void Graph::erase_nodes(const std::vector<Node*>& dead) {
  std::unordered_set<const Node*> d(dead.begin(), dead.end());
  for (auto& n : nodes_)
    if (d.count(n.get()))
      for (Value* o : n->outputs)
        if (o && o->producer == n.get()) o->producer = nullptr;
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const std::unique_ptr<Node>& n) { return d.count(n.get()) > 0; }),
               nodes_.end());
}

size_t Graph::remove_dead() {
  std::unordered_set<const Value*> live(outputs.begin(), outputs.end());
  std::vector<Node*> dead;
  // walk backwards: a node is live if any of its outputs is live
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    Node* n = it->get();
    bool is_live = false;
    for (Value* o : n->outputs) is_live |= o && live.count(o);
    if (is_live) {
      for (Value* in : n->inputs)
        if (in) live.insert(in);
    } else {
      dead.push_back(n);
    }
  }
  erase_nodes(dead);
  // drop values that nothing references any more (keep graph inputs: they are the interface)
  std::unordered_set<const Value*> referenced(outputs.begin(), outputs.end());
  for (Value* v : inputs) referenced.insert(v);
  for (auto& n : nodes_) {
    for (Value* v : n->inputs) referenced.insert(v);
    for (Value* v : n->outputs) referenced.insert(v);
  }
  values_.erase(std::remove_if(values_.begin(), values_.end(),
                               [&](const std::unique_ptr<Value>& v) { return !referenced.count(v.get()); }),
                values_.end());
  return dead.size();
}

}  // namespace tern::ir
