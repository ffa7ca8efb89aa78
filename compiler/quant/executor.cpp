#include "quant/executor.h"

#include <cstring>

#include "reference/kernel.h"

namespace tern::compiler::quant {

GraphExecutor::Slot* GraphExecutor::slot(const ir::Value* v) {
  auto it = slots_.find(v);
  if (it != slots_.end()) return it->second.get();
  auto s = std::make_unique<Slot>();
  s->ref.dtype = v->dtype;
  s->ref.shape = v->shape;
  if (v->is_constant()) {
    s->ref.data = const_cast<uint8_t*>(v->data->data());
  } else {
    s->bytes.assign(v->bytes() ? v->bytes() : 1, 0);
    s->ref.data = s->bytes.data();
  }
  if (!v->q_scale.empty()) {
    s->quant = {v->q_scale.data(), v->q_zero_point.data(), static_cast<int>(v->q_scale.size()),
                v->q_scale.size() > 1 ? v->q_axis : -1};
    s->ref.quant = &s->quant;
  }
  Slot* raw = s.get();
  slots_[v] = std::move(s);
  return raw;
}

GraphExecutor::GraphExecutor(const ir::Graph& g) : g_(g) {
  for (ir::Value* v : g.inputs) slot(v);
  for (const auto& n : g.nodes()) {
    Step st;
    st.node = n.get();
    for (ir::Value* v : n->inputs) st.in.push_back(v ? &slot(v)->ref : nullptr);
    for (ir::Value* v : n->outputs) st.out.push_back(v ? &slot(v)->ref : nullptr);
    steps_.push_back(std::move(st));
  }
}

Status GraphExecutor::run(const std::vector<const void*>& inputs) {
  if (inputs.size() != g_.inputs.size())
    return TERN_ERROR(kInvalidArgument, "the graph has %zu inputs, %zu given", g_.inputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Slot* s = slots_.at(g_.inputs[i]).get();
    std::memcpy(s->ref.data, inputs[i], g_.inputs[i]->bytes());
  }
  for (const Step& st : steps_) {
    ref::KernelContext kc;
    kc.node_name = st.node->name.c_str();
    kc.op = st.node->op;
    kc.options = &st.node->options;
    kc.inputs = st.in;
    kc.outputs = st.out;
    TERN_RETURN_IF_ERROR(ref::run_node_once(kc));
  }
  return Status::ok();
}

const void* GraphExecutor::data(const ir::Value* v) const {
  auto it = slots_.find(v);
  return it == slots_.end() ? nullptr : it->second->ref.data;
}

}  // namespace tern::compiler::quant
