#include "quant/executor.h"

#include <algorithm>
#include <cstring>

#include "plan/memory_planner.h"
#include "reference/kernel.h"
#if defined(TERN_WITH_CPU_BACKEND)
#include "cpu/cpu_backend.h"
#endif

namespace tern::compiler::quant {

GraphExecutor::Slot* GraphExecutor::slot(const ir::Value* v) {
  auto it = slots_.find(v);
  if (it != slots_.end()) return it->second.get();
  auto s = std::make_unique<Slot>();
  s->ref.dtype = v->dtype;
  s->ref.shape = v->shape;
  if (v->is_constant()) {
    s->ref.data = const_cast<uint8_t*>(v->data->data());
  } else if (auto it = arena_offset_.find(v); arena_ && it != arena_offset_.end()) {
    s->ref.data = arena_.get() + it->second;
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

GraphExecutor::~GraphExecutor() = default;

GraphExecutor::GraphExecutor(const ir::Graph& g, Engine engine, int threads, bool outputs_only)
    : g_(g), engine_(engine), threads_(threads) {
#if !defined(TERN_WITH_CPU_BACKEND)
  engine_ = Engine::Reference;
#endif
  if (outputs_only) {
    MemoryPlan mp = plan_memory(g);
    arena_.reset(static_cast<uint8_t*>(std::aligned_alloc(kTensorAlignment, (std::max<uint64_t>(mp.arena_size, 1) + 63) / 64 * 64)));
    if (arena_) {
      std::memset(arena_.get(), 0, mp.arena_size);
      arena_offset_ = std::move(mp.offset);
    }
  }
  for (ir::Value* v : g.inputs) slot(v);
  for (const auto& n : g.nodes()) {
    Step st;
    st.node = n.get();
    for (ir::Value* v : n->inputs) st.in.push_back(v ? &slot(v)->ref : nullptr);
    for (ir::Value* v : n->outputs) st.out.push_back(v ? &slot(v)->ref : nullptr);
    steps_.push_back(std::move(st));
  }
}

Status GraphExecutor::prepare_cpu() {
#if defined(TERN_WITH_CPU_BACKEND)
  // Every value gets an index; the backend sees the slots' TensorRefs (same buffers as data()).
  std::unordered_map<const ir::Value*, int32_t> index;
  auto idx = [&](const ir::Value* v) -> int32_t {
    if (!v) return -1;
    auto it = index.find(v);
    if (it != index.end()) return it->second;
    const int32_t i = static_cast<int32_t>(tensors_.size());
    const Slot* s = slot(v);
    tensors_.push_back(s->ref);
    is_constant_.push_back(v->is_constant() ? 1 : 0);
    index[v] = i;
    return i;
  };
  for (ir::Value* v : g_.inputs) graph_inputs_.push_back(idx(v));
  for (const Step& st : steps_) {
    std::vector<int32_t> io;
    for (const ir::Value* v : st.node->inputs) io.push_back(idx(v));
    for (const ir::Value* v : st.node->outputs) io.push_back(idx(v));
    node_io_.push_back(std::move(io));
  }
  // Quant params: the TensorRef copies point at the slots' QuantParams, which do not move.
  views_.reserve(steps_.size());
  for (size_t i = 0; i < steps_.size(); ++i) {
    const ir::Node* n = steps_[i].node;
    const std::vector<int32_t>& io = node_io_[i];
    NodeView nv;
    nv.name = n->name.c_str();
    nv.op = n->op;
    nv.options = &n->options;
    nv.inputs = std::span<const int32_t>(io.data(), n->inputs.size());
    nv.outputs = std::span<const int32_t>(io.data() + n->inputs.size(), n->outputs.size());
    views_.push_back(nv);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) all_tensors_.push_back(static_cast<int32_t>(i));
  backend_ = make_cpu_backend();
  Subgraph sg;
  sg.nodes = views_;
  sg.tensors = tensors_;
  sg.is_constant = is_constant_;
  sg.inputs = graph_inputs_;
  sg.outputs = all_tensors_;  // every value is observed
  BackendOptions bo;
  bo.num_threads = threads_;
  TERN_ASSIGN_OR_RETURN(exe_, backend_->prepare(sg, bo));
  return Status::ok();
#else
  return TERN_ERROR(kUnsupported, "this build has no CPU backend");
#endif
}

Status GraphExecutor::run(const std::vector<const void*>& inputs) {
  if (inputs.size() != g_.inputs.size())
    return TERN_ERROR(kInvalidArgument, "the graph has %zu inputs, %zu given", g_.inputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Slot* s = slots_.at(g_.inputs[i]).get();
    std::memcpy(s->ref.data, inputs[i], g_.inputs[i]->bytes());
  }
  if (engine_ == Engine::Cpu) {
    if (!exe_) TERN_RETURN_IF_ERROR(prepare_cpu());
    return exe_->execute();
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
