// A Session runs one Plan: it owns the arena memory and the prepared partitions.
//
// Creation does all the work that may allocate or fail (arena allocation, backend prepare); `run`
// allocates nothing. A Session keeps its Plan alive. Thread safety: one thread at a time per
// Session; different Sessions of one Plan may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "plan/plan.h"

namespace tern {

struct SessionOptions {
  // "reference", "cpu", "vulkan" or "auto" (Vulkan partitions on Vulkan when a device exists, else
  // on CPU). "vulkan" fails with kBackendUnavailable when there is no Vulkan device.
  std::string backend = "auto";
  int num_threads = 1;
  // Streaming: after each run, copy each state output (e.g. hT) into its state input (h0).
  bool carry_state = false;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Plan> plan, const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Plan& plan() const { return *plan_; }
  // What runs the partitions, e.g. "cpu", "vulkan", "vulkan+cpu"; plus why, when auto fell back.
  const std::string& backend_summary() const { return backend_summary_; }

  size_t num_inputs() const { return plan_->inputs().size(); }
  size_t num_outputs() const { return plan_->outputs().size(); }
  // Copies `bytes` of `data` into input i after checking dtype and shape against the plan.
  Status set_input(size_t i, DType dtype, const Shape& shape, const void* data, size_t bytes);
  // Direct access to input i's buffer (write it, then run).
  const TensorRef& input(size_t i) const { return tensors_[plan_->inputs()[i]]; }
  const TensorRef& output(size_t i) const { return tensors_[plan_->outputs()[i]]; }

  Status run();
  // Zeroes every carried state input (start of a new stream).
  void reset_state();

  // Per-node timing (`tern bench --profile`). After enable_profiling(), every run adds each node's
  // wall time to its entry; a backend that cannot time single nodes (Vulkan: its GPU time is in
  // the timestamp queries) is timed per partition, reported on the partition's first node with
  // `whole_partition` set. Timing costs two clock reads per node.
  struct NodeTime {
    uint32_t node = 0;          // index into plan().nodes()
    const char* backend = "";   // what ran it
    uint64_t ns = 0;            // summed over the runs since enable_profiling()
    bool whole_partition = false;
  };
  void enable_profiling();
  std::vector<NodeTime> profile() const;

  // Prepacking (`tern compile --prepack`, compiler/emit/prepack.cpp): f(node index into
  // plan().nodes(), layout, bytes) for every node whose kernel packed constant data at creation.
  void packed_constants(const std::function<void(uint32_t, std::string_view, std::span<const uint8_t>)>& f) const;
  // Nodes whose kernels run on the plan's prepacked constants in place (0 without --prepack, or
  // when the plan was prepacked for another CPU).
  size_t prepacked_in_use() const;

 private:
  Session() = default;
  Status init(const SessionOptions& options);

  struct Part {
    std::unique_ptr<Executable> exe;
    const char* backend = "";
    uint32_t first_node = 0;
    std::vector<uint64_t> node_ns;  // profiling: per node, or one entry for the whole partition
    bool per_node = false;
    std::vector<NodeView> nodes;
    std::vector<int32_t> inputs, outputs;
  };
  std::shared_ptr<const Plan> plan_;
  std::vector<void*> arenas_;
  std::vector<TensorRef> tensors_;
  std::vector<uint8_t> is_constant_;
  std::vector<std::unique_ptr<Backend>> backends_;  // must outlive parts_
  std::vector<Part> parts_;
  std::string backend_summary_;
  bool carry_state_ = false;
  bool profiling_ = false;
};

}  // namespace tern
