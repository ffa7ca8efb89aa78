#include "cpu/cpu_backend.h"

#include <chrono>
#include <cstdlib>
#include <span>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ops/op_defs.h"
#include "reference/kernel.h"

namespace tern {

namespace {

// One prepared node: either a CPU kernel instance or a reference kernel call.
struct Step {
  std::unique_ptr<cpu::CpuKernel> kernel;
  ref::KernelContext ref;
  ref::KernelFn ref_fn = nullptr;
};

class CpuExecutable final : public Executable {
 public:
  ~CpuExecutable() override {
    steps_.clear();  // kernels hold threads_ and may use it in their destructors
    std::free(scratch_);
  }

  Status init(const Subgraph& g, const BackendOptions& opts) {
    TERN_ASSIGN_OR_RETURN(threads_, cpu::Threads::create(opts.num_threads));
    cpu::Context ctx;
    ctx.num_threads = opts.num_threads;
    ctx.threads = threads_.get();
    size_t ni = 0, no = 0;
    for (const NodeView& v : g.nodes) {
      ni += v.inputs.size();
      no += v.outputs.size();
    }
    in_ptrs_.reserve(ni);
    out_ptrs_.reserve(no);
    size_t scratch = 0;
    // Per constant: uses (node input slots) in this partition not yet seen, and whether any use
    // reads the original bytes at run time. When the last use is created and every use packed it,
    // the constant is reported released (at once, so that originals and packed copies are not all
    // resident together during prepare).
    std::vector<uint32_t> pending(g.tensors.size(), 0);
    std::vector<uint8_t> pinned(g.tensors.size(), 0);
    for (const NodeView& v : g.nodes)
      for (int32_t t : v.inputs)
        if (t >= 0 && g.is_constant[static_cast<size_t>(t)]) ++pending[static_cast<size_t>(t)];
    auto settle = [&](const NodeView& v, const cpu::CpuKernel* kernel) {
      for (size_t k = 0; k < v.inputs.size(); ++k) {
        const int32_t t = v.inputs[k];
        if (t < 0 || !g.is_constant[static_cast<size_t>(t)]) continue;
        const size_t ti = static_cast<size_t>(t);
        if (!kernel || !kernel->packed_input(k)) pinned[ti] = 1;
        if (--pending[ti] == 0 && !pinned[ti] && g.release_constant) g.release_constant(t);
      }
    };
    steps_.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const NodeView& v = g.nodes[i];
      Step& s = steps_[i];
      size_t in_begin = in_ptrs_.size(), out_begin = out_ptrs_.size();
      for (int32_t t : v.inputs) in_ptrs_.push_back(t < 0 ? nullptr : &g.tensors[static_cast<size_t>(t)]);
      for (int32_t t : v.outputs) out_ptrs_.push_back(t < 0 ? nullptr : &g.tensors[static_cast<size_t>(t)]);
      std::span<const TensorRef* const> ins{in_ptrs_.data() + in_begin, v.inputs.size()};
      std::span<const TensorRef* const> outs{out_ptrs_.data() + out_begin, v.outputs.size()};
      TERN_ASSIGN_OR_RETURN(s.kernel, cpu::create_kernel(ctx, v, ins, outs, g.is_constant));
      settle(v, s.kernel.get());
      if (s.kernel) {
        scratch = std::max(scratch, s.kernel->scratch_bytes());
        continue;
      }
      ref::KernelEntry k = ref::kernel_for(v.op);
      if (!k.run)
        return TERN_ERROR(kUnsupported, "node '%s' (%s): the CPU backend has no kernel for this op", v.name, ops::op_name(v.op));
      s.ref_fn = k.run;
      s.ref.node_name = v.name;
      s.ref.op = v.op;
      s.ref.options = v.options;
      s.ref.inputs = ins;
      s.ref.outputs = outs;
      s.ref.num_threads = opts.num_threads;
      if (k.scratch) scratch = std::max(scratch, k.scratch(s.ref));
    }
    if (scratch) {
      scratch_ = std::aligned_alloc(64, (scratch + 63) / 64 * 64);
      if (!scratch_) return TERN_ERROR(kOutOfMemory, "cannot allocate %zu bytes of kernel scratch", scratch);
    }
    for (Step& s : steps_) s.ref.scratch = scratch_;
    return Status::ok();
  }

  Status execute() override {
    if (!profile_.empty()) return execute_profiled();
    for (Step& s : steps_) TERN_RETURN_IF_ERROR(run_step(s));
    return Status::ok();
  }

  bool set_profile(std::span<uint64_t> ns) override {
    profile_ = ns.size() == steps_.size() ? ns : std::span<uint64_t>{};
    return ns.empty() || !profile_.empty();
  }

  void packed_constants(const std::function<void(size_t, std::string_view, std::span<const uint8_t>)>& f) const override {
    for (size_t i = 0; i < steps_.size(); ++i)
      if (const cpu::CpuKernel* k = steps_[i].kernel.get(); k && !k->packed_layout().empty() && !k->packed_bytes().empty())
        f(i, k->packed_layout(), k->packed_bytes());
  }
  size_t prepacked_in_use() const override {
    size_t n = 0;
    for (const Step& s : steps_) n += s.kernel && s.kernel->uses_prepacked();
    return n;
  }

 private:
  Status run_step(Step& s) { return s.kernel ? s.kernel->run(scratch_) : s.ref_fn(s.ref); }

  Status execute_profiled() {
    using Clock = std::chrono::steady_clock;
    for (size_t i = 0; i < steps_.size(); ++i) {
      const auto t0 = Clock::now();
      TERN_RETURN_IF_ERROR(run_step(steps_[i]));
      profile_[i] += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    }
    return Status::ok();
  }

  std::unique_ptr<cpu::Threads> threads_;  // declared first: destroyed after the steps
  std::span<uint64_t> profile_;            // set_profile(): per-step time accumulators, or empty
  std::vector<Step> steps_;
  std::vector<const TensorRef*> in_ptrs_, out_ptrs_;
  void* scratch_ = nullptr;
};

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  bool is_available() const override { return true; }
  bool supports(const NodeQuery& q, std::string* why) const override {
    if (ref::kernel_for(q.op).run) return true;  // every op has at least its reference kernel here
    if (why) *why = "no CPU kernel";
    return false;
  }
  Result<std::unique_ptr<Executable>> prepare(const Subgraph& g, const BackendOptions& o) override {
    auto e = std::make_unique<CpuExecutable>();
    TERN_RETURN_IF_ERROR(e->init(g, o));
    return std::unique_ptr<Executable>(std::move(e));
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace tern
