// The interface every backend implements (reference, cpu, vulkan).
//
// The compiler calls `supports` to partition a graph, so the runtime never discovers an unsupported
// op while running. The runtime calls `prepare` once per partition when a session is created
// (validation, weight packing, pipeline creation, scratch sizing: everything that may allocate or
// fail) and then `execute` on every run, which must not allocate.
//
// Memory: `Subgraph::tensors` are host views of every tensor of the plan (arena tensors point into
// the session's host arena, constants into the mapped plan file). A backend with device memory (a
// GPU) keeps its own copies of the partition's internal tensors and transfers only the partition's
// boundary tensors (`inputs`/`outputs`) between host and device inside `execute`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"

namespace tern {

// Constant data the compiler already packed for a kernel of this node (plan PackedConstant, `tern
// compile --prepack`): a kernel takes `data` in place (64-byte aligned, inside the plan, valid as
// long as the session) when `layout` equals the layout it would pack and `size` agrees; otherwise
// it packs the node's original constants itself.
struct PackedData {
  std::string_view layout;
  const void* data = nullptr;
  size_t size = 0;
};

// A node as backends see it. Tensor indices refer to Subgraph::tensors; -1 marks an absent input.
struct NodeView {
  const char* name = "";
  OpType op = OpType::Conv;
  const fb::NodeOptionsUnion* options = nullptr;
  std::span<const int32_t> inputs;
  std::span<const int32_t> outputs;
  std::span<const PackedData> packed;  // usually empty
};

// What `supports` is asked: one node with the dtypes and shapes of its tensors (nullptr: absent).
struct NodeQuery {
  OpType op = OpType::Conv;
  const fb::NodeOptionsUnion* options = nullptr;
  std::span<const TensorInfo* const> inputs;
  std::span<const TensorInfo* const> outputs;
  bool fp16_storage = false;  // asked for an fp16-storage partition (BackendOptions::fp16_storage)
};

// The spans are valid during `prepare` only, except `tensors` and what NodeViews point to, which
// live as long as the session.
struct Subgraph {
  std::span<const NodeView> nodes;     // in execution order
  std::span<TensorRef> tensors;        // every tensor of the plan, host view
  std::span<const uint8_t> is_constant;  // per tensor: 1 = read-only constant data
  std::span<const int32_t> inputs;     // tensors read by this subgraph and produced outside it
  std::span<const int32_t> outputs;    // tensors produced here and read outside (or graph outputs)
  // Optional (may be empty; callable during `prepare` only). `prepare` calls it with a constant tensor's index once every node of
  // the partition that reads that constant has copied (packed) what it needs and `execute` will
  // never read the tensor's bytes again. The session may then let the OS drop the constant's pages
  // of a memory-mapped plan (madvise; they re-fault from the file if anything reads them later, so
  // a wrong report costs time, never correctness). Call it as soon as a constant is packed: that
  // keeps the mapped original and the packed copy from being resident together, which bounds peak
  // memory during prepare.
  std::function<void(int32_t)> release_constant;
};

struct BackendOptions {
  int num_threads = 1;
  // The partition's float32 tensors live in device memory as float16 (plan Partition.fp16_storage,
  // `tern compile --fp16`); the host side stays float32. Only the Vulkan backend honours it, and
  // fails at prepare when the device cannot (never silently runs float32).
  bool fp16_storage = false;
};

// A prepared partition. Owned by the session; destroyed before the plan it was prepared from.
class Executable {
 public:
  virtual ~Executable() = default;
  // Runs the partition's nodes in order. Must not allocate. Not thread-safe: one run at a time.
  virtual Status execute() = 0;
  // Per-node timing (`tern bench --profile`): from now on, every execute() adds each node's wall
  // time in nanoseconds to ns[i] (i = the node's position in Subgraph::nodes; ns.size() == number of
  // nodes, kept alive by the caller); an empty span turns it off. Returns false when the backend
  // cannot time single nodes (the caller then times the whole partition).
  virtual bool set_profile(std::span<uint64_t> ns) {
    (void)ns;
    return false;
  }
  // Prepacking (`tern compile --prepack`): calls f(i, layout, bytes) for every node i (position in
  // Subgraph::nodes) whose kernel packed constant data at prepare that a plan could carry instead.
  virtual void packed_constants(const std::function<void(size_t, std::string_view, std::span<const uint8_t>)>& f) const {
    (void)f;
  }
  // How many nodes use plan-provided packed data (NodeView::packed) in place.
  virtual size_t prepacked_in_use() const { return 0; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Whether this build and machine can run the backend at all (e.g. a Vulkan device exists).
  virtual bool is_available() const = 0;
  // Whether the backend runs this node; on false, `why` (if non-null) receives a short reason.
  virtual bool supports(const NodeQuery& node, std::string* why) const = 0;
  virtual Result<std::unique_ptr<Executable>> prepare(const Subgraph& graph, const BackendOptions& options) = 0;
};

}  // namespace tern
