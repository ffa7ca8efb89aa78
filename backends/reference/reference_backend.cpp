#include "reference/reference_backend.h"

#include <cstdlib>
#include <vector>

#include "ops/op_defs.h"
#include "reference/kernel.h"

namespace tern {

namespace {

struct PreparedNode {
  ref::KernelContext ctx;
  ref::KernelFn run = nullptr;
  size_t in_begin = 0, in_count = 0, out_begin = 0, out_count = 0;
};

class ReferenceExecutable final : public Executable {
 public:
  ~ReferenceExecutable() override { std::free(scratch_); }

  Status init(const Subgraph& g, const BackendOptions& opts) {
    nodes_.resize(g.nodes.size());
    // Pointer tables first (they must not reallocate once spans point into them).
    size_t ni = 0, no = 0;
    for (const NodeView& v : g.nodes) {
      ni += v.inputs.size();
      no += v.outputs.size();
    }
    in_ptrs_.reserve(ni);
    out_ptrs_.reserve(no);
    size_t scratch = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const NodeView& v = g.nodes[i];
      PreparedNode& p = nodes_[i];
      ref::KernelEntry k = ref::kernel_for(v.op);
      if (!k.run)
        return TERN_ERROR(kUnsupported, "node '%s' (%s): the reference backend has no kernel for this op", v.name,
                          ops::op_name(v.op));
      p.run = k.run;
      p.in_begin = in_ptrs_.size();
      for (int32_t t : v.inputs) in_ptrs_.push_back(t < 0 ? nullptr : &g.tensors[static_cast<size_t>(t)]);
      p.out_begin = out_ptrs_.size();
      for (int32_t t : v.outputs) out_ptrs_.push_back(t < 0 ? nullptr : &g.tensors[static_cast<size_t>(t)]);
      p.ctx.node_name = v.name;
      p.ctx.op = v.op;
      p.ctx.options = v.options;
      p.ctx.inputs = {in_ptrs_.data() + p.in_begin, v.inputs.size()};
      p.ctx.outputs = {out_ptrs_.data() + p.out_begin, v.outputs.size()};
      p.ctx.num_threads = opts.num_threads;
      if (k.scratch) {
        size_t s = k.scratch(p.ctx);
        if (s > scratch) scratch = s;
      }
    }
    if (scratch) {
      scratch_ = std::aligned_alloc(64, (scratch + 63) / 64 * 64);
      if (!scratch_) return TERN_ERROR(kOutOfMemory, "cannot allocate %zu bytes of kernel scratch", scratch);
      for (PreparedNode& p : nodes_) p.ctx.scratch = scratch_;
    }
    return Status::ok();
  }

  Status execute() override {
    for (PreparedNode& p : nodes_) TERN_RETURN_IF_ERROR(p.run(p.ctx));
    return Status::ok();
  }

 private:
  std::vector<PreparedNode> nodes_;
  std::vector<const TensorRef*> in_ptrs_;
  std::vector<const TensorRef*> out_ptrs_;
  void* scratch_ = nullptr;
};

class ReferenceBackend final : public Backend {
 public:
  const char* name() const override { return "reference"; }
  bool is_available() const override { return true; }
  bool supports(const NodeQuery& q, std::string* why) const override {
    if (ref::kernel_for(q.op).run) return true;
    if (why) *why = "no reference kernel";
    return false;
  }
  Result<std::unique_ptr<Executable>> prepare(const Subgraph& g, const BackendOptions& o) override {
    auto e = std::make_unique<ReferenceExecutable>();
    TERN_RETURN_IF_ERROR(e->init(g, o));
    return std::unique_ptr<Executable>(std::move(e));
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace tern
