#include "session.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include "backend_registry.h"
#include "core/plan_format.h"
#include "ops/op_defs.h"

namespace tern {

Session::~Session() {
  parts_.clear();  // executables may reference arena memory until destroyed
  for (void* a : arenas_) std::free(a);
}

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Plan> plan, const SessionOptions& options) {
  if (!plan) return TERN_ERROR(kInvalidArgument, "cannot create a session without a plan");
  if (options.num_threads < 1 || options.num_threads > 1024)
    return TERN_ERROR(kInvalidArgument, "num_threads must be between 1 and 1024, not %d", options.num_threads);
  std::unique_ptr<Session> s(new Session());
  s->plan_ = std::move(plan);
  TERN_RETURN_IF_ERROR(s->init(options));
  return s;
}

Status Session::init(const SessionOptions& options) {
  const Plan& p = *plan_;
  carry_state_ = options.carry_state;
  for (uint64_t size : p.arena_sizes()) {
    size_t bytes = align_up(static_cast<size_t>(size ? size : 1), 64);
    void* a = std::aligned_alloc(64, bytes);
    if (!a) return TERN_ERROR(kOutOfMemory, "cannot allocate an arena of %zu bytes", bytes);
    std::memset(a, 0, bytes);
    arenas_.push_back(a);
  }
  tensors_.resize(p.tensors().size());
  is_constant_.resize(p.tensors().size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorDesc& d = p.tensors()[i];
    TensorRef& t = tensors_[i];
    t.dtype = d.dtype;
    t.shape = d.shape;
    t.quant = d.has_quant ? &d.quant : nullptr;
    is_constant_[i] = d.storage == fb::Storage::Constant;
    t.data = is_constant_[i] ? const_cast<void*>(d.const_data) : static_cast<uint8_t*>(arenas_[d.buffer]) + d.offset;
  }

  // Choose a backend per partition.
  const std::string& want = options.backend;
  if (want != "auto" && want != "reference" && want != "cpu" && want != "vulkan")
    return TERN_ERROR(kInvalidArgument, "unknown backend '%s' (choose reference, cpu, vulkan or auto)", want.c_str());
  auto get = [&](const std::string& name) -> Backend* {
    for (auto& b : backends_)
      if (name == b->name()) return b.get();
    std::unique_ptr<Backend> b = make_backend(name);
    if (!b || !b->is_available()) return nullptr;
    backends_.push_back(std::move(b));
    return backends_.back().get();
  };
  std::string fallback_note;
  Backend* host = want == "reference" ? get("reference") : get("cpu");
  if (!host) host = get("reference");
  if (want == "vulkan" && !get("vulkan")) {
    std::unique_ptr<Backend> probe = make_backend("vulkan");
    return TERN_ERROR(kBackendUnavailable, "%s",
                      probe ? "the Vulkan backend found no usable Vulkan device on this machine"
                            : "this build of Tern has no Vulkan backend (configure with -DTERN_WITH_VULKAN=ON)");
  }
  if (want == "vulkan") {
    // Asking for the GPU must not silently run everything on the CPU.
    bool any = false;
    for (const PartitionDesc& pd : p.partitions()) any |= pd.backend == "vulkan";
    if (!any)
      return TERN_ERROR(kInvalidArgument,
                        "this plan has no Vulkan partition (it was compiled for the CPU): recompile it with "
                        "`tern compile --target vulkan`, or run it with --backend cpu or auto");
  }

  // Tensor -> index of the partition that writes it, to find partition boundaries.
  std::vector<int32_t> writer(tensors_.size(), -1);
  const auto& parts = p.partitions();
  for (size_t pi = 0; pi < parts.size(); ++pi)
    for (uint32_t n = parts[pi].first_node; n < parts[pi].first_node + parts[pi].num_nodes; ++n)
      for (int32_t t : p.nodes()[n].outputs)
        if (t >= 0) writer[static_cast<size_t>(t)] = static_cast<int32_t>(pi);
  std::vector<bool> is_graph_output(tensors_.size(), false);
  for (uint32_t o : p.outputs()) is_graph_output[o] = true;

  // Constant -> number of partitions reading it: a partition may release a constant's mapped pages
  // (Subgraph::release_constant) only when no other partition reads it.
  std::vector<uint32_t> const_readers(tensors_.size(), 0);
  for (const PartitionDesc& pd : parts) {
    std::vector<bool> reads(tensors_.size(), false);
    for (uint32_t n = pd.first_node; n < pd.first_node + pd.num_nodes; ++n)
      for (int32_t t : p.nodes()[n].inputs)
        if (t >= 0 && is_constant_[static_cast<size_t>(t)]) reads[static_cast<size_t>(t)] = true;
    for (size_t t = 0; t < reads.size(); ++t) const_readers[t] += reads[t];
  }
  // Packing tensor t faulted t's pages in, and the kernel maps a large page-cache folio (up to
  // 2 MiB) whole on a fault: constants released earlier in the same 2 MiB windows are mapped
  // again. So each release also re-releases those neighbours (found by address), which keeps the
  // peak during prepare near max(mapped weights, packed weights) instead of their sum.
  std::map<uintptr_t, uint32_t> released;  // constant's address -> tensor index
  auto release_constant = [&](int32_t t) {
    if (t < 0 || static_cast<size_t>(t) >= tensors_.size() || !is_constant_[static_cast<size_t>(t)] ||
        const_readers[static_cast<size_t>(t)] != 1)
      return;
    const TensorDesc& d = p.tensors()[static_cast<size_t>(t)];
    constexpr uintptr_t kWindow = uintptr_t{2} << 20;
    const uintptr_t a = reinterpret_cast<uintptr_t>(d.const_data);
    const uintptr_t lo = a / kWindow * kWindow, hi = (a + d.size + kWindow - 1) / kWindow * kWindow;
    for (auto it = released.lower_bound(lo > kWindow ? lo - kWindow : 0); it != released.end() && it->first < hi; ++it)
      if (it->first + p.tensors()[it->second].size > lo) p.release_constant_pages(it->second);
    p.release_constant_pages(static_cast<uint32_t>(t));
    released.emplace(a, static_cast<uint32_t>(t));
  };

  std::vector<std::string> used;
  bool fp16 = false;
  parts_.resize(parts.size());
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    const PartitionDesc& pd = parts[pi];
    Part& part = parts_[pi];
    Backend* b = host;
    if (pd.backend == "vulkan" && want != "cpu" && want != "reference") {
      if (Backend* v = get("vulkan")) b = v;
      else if (fallback_note.empty()) fallback_note = " (no Vulkan device: Vulkan partitions run on CPU)";
    }
    for (uint32_t n = pd.first_node; n < pd.first_node + pd.num_nodes; ++n) {
      const NodeDesc& nd = p.nodes()[n];
      part.nodes.push_back({nd.name.c_str(), nd.op, &nd.options, nd.inputs, nd.outputs, nd.packed});
    }
    std::vector<bool> seen(tensors_.size(), false);
    for (const NodeView& v : part.nodes) {
      for (int32_t t : v.inputs)
        if (t >= 0 && !is_constant_[static_cast<size_t>(t)] && writer[static_cast<size_t>(t)] != static_cast<int32_t>(pi) &&
            !seen[static_cast<size_t>(t)]) {
          seen[static_cast<size_t>(t)] = true;
          part.inputs.push_back(t);
        }
    }
    for (const NodeView& v : part.nodes)
      for (int32_t t : v.outputs) {
        if (t < 0) continue;
        bool external = is_graph_output[static_cast<size_t>(t)];
        for (size_t pj = 0; pj < parts.size() && !external; ++pj) {
          if (pj == pi) continue;
          for (uint32_t n = parts[pj].first_node; n < parts[pj].first_node + parts[pj].num_nodes && !external; ++n)
            for (int32_t r : p.nodes()[n].inputs) external |= r == t;
        }
        if (external) part.outputs.push_back(t);
      }
    Subgraph g;
    g.nodes = part.nodes;
    g.tensors = tensors_;
    g.is_constant = is_constant_;
    g.inputs = part.inputs;
    g.outputs = part.outputs;
    g.release_constant = release_constant;
    BackendOptions bo;
    bo.num_threads = options.num_threads;
    bo.fp16_storage = pd.fp16_storage && b != host;  // a Vulkan partition run on the CPU stays float32
    fp16 |= bo.fp16_storage;
    Result<std::unique_ptr<Executable>> exe = b->prepare(g, bo);
    if (!exe.is_ok()) return exe.status();
    part.exe = std::move(exe).value();
    part.backend = b->name();
    part.first_node = pd.first_node;
    bool listed = false;
    for (const std::string& u : used) listed |= u == b->name();
    if (!listed) used.push_back(b->name());
  }
  // And once more at the end, for pages faulted back in from farther away (steady-state RSS).
  for (const auto& [addr, t] : released) p.release_constant_pages(t);
  for (size_t i = 0; i < used.size(); ++i) backend_summary_ += (i ? "+" : "") + used[i];
  if (used.empty()) backend_summary_ = host->name();
  if (fp16) backend_summary_ += " (fp16 storage)";
  backend_summary_ += fallback_note;
  return Status::ok();
}

Status Session::set_input(size_t i, DType dtype, const Shape& shape, const void* data, size_t bytes) {
  if (i >= num_inputs()) return TERN_ERROR(kInvalidArgument, "input index %zu is out of range (the plan has %zu inputs)", i, num_inputs());
  const TensorDesc& d = plan_->tensors()[plan_->inputs()[i]];
  if (dtype != d.dtype)
    return TERN_ERROR(kInvalidArgument, "input '%s' is %s but the plan expects %s", d.name.c_str(), dtype_name(dtype),
                      dtype_name(d.dtype));
  if (shape != d.shape)
    return TERN_ERROR(kInvalidArgument, "input '%s' has shape %s but the plan expects %s (recompile with --input-shape %s=... to change it)",
                      d.name.c_str(), shape.str().c_str(), d.shape.str().c_str(), d.name.c_str());
  if (bytes != d.size || (!data && bytes))
    return TERN_ERROR(kInvalidArgument, "input '%s' needs %llu bytes, got %zu", d.name.c_str(),
                      static_cast<unsigned long long>(d.size), data ? bytes : 0);
  if (bytes) std::memcpy(input(i).data, data, bytes);
  return Status::ok();
}

Status Session::run() {
  if (profiling_) {
    for (Part& p : parts_) {
      const auto t0 = std::chrono::steady_clock::now();
      TERN_RETURN_IF_ERROR(p.exe->execute());
      if (!p.per_node)
        p.node_ns[0] += static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    }
  } else {
    for (Part& p : parts_) TERN_RETURN_IF_ERROR(p.exe->execute());
  }
  if (carry_state_)
    for (const StateDesc& s : plan_->states())
      std::memcpy(tensors_[s.input].data, tensors_[s.output].data, tensors_[s.input].bytes());
  return Status::ok();
}

void Session::enable_profiling() {
  for (Part& p : parts_) {
    p.node_ns.assign(p.nodes.size(), 0);
    p.per_node = !p.nodes.empty() && p.exe->set_profile(p.node_ns);
    if (!p.per_node) p.node_ns.assign(1, 0);
  }
  profiling_ = true;
}

std::vector<Session::NodeTime> Session::profile() const {
  std::vector<NodeTime> out;
  for (const Part& p : parts_)
    for (size_t i = 0; i < p.node_ns.size(); ++i)
      out.push_back({p.first_node + static_cast<uint32_t>(i), p.backend, p.node_ns[i], !p.per_node});
  return out;
}

void Session::packed_constants(const std::function<void(uint32_t, std::string_view, std::span<const uint8_t>)>& f) const {
  for (const Part& p : parts_)
    p.exe->packed_constants([&](size_t i, std::string_view layout, std::span<const uint8_t> bytes) {
      f(p.first_node + static_cast<uint32_t>(i), layout, bytes);
    });
}

size_t Session::prepacked_in_use() const {
  size_t n = 0;
  for (const Part& p : parts_) n += p.exe->prepacked_in_use();
  return n;
}

void Session::reset_state() {
  for (const StateDesc& s : plan_->states()) std::memset(tensors_[s.input].data, 0, tensors_[s.input].bytes());
}

}  // namespace tern
