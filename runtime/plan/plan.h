// A loaded, verified plan: immutable, shared by every session created from it.
//
// Loading maps the file (or borrows/copies a memory buffer), checks the container header and
// checksums, runs the FlatBuffers verifier, then checks every index, offset and size, and re-runs
// shape inference on every node against the shapes the plan records. After a successful load no
// kernel can be driven outside its tensors by the plan's contents.
//
// Thread safety: a Plan is immutable after load; any number of threads may use it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "core/status.h"
#include "core/tensor.h"

namespace tern {

struct TensorDesc {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  fb::Storage storage = fb::Storage::Arena;
  uint32_t buffer = 0;           // arena or segment index
  uint64_t offset = 0;
  uint64_t size = 0;             // bytes
  const void* const_data = nullptr;  // Storage::Constant: the bytes inside the plan
  int32_t producer = -1;         // index of the node that writes it, -1 if none
  bool has_quant = false;
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  QuantParams quant;             // points into scales/zero_points when has_quant
};

struct NodeDesc {
  std::string name;
  OpType op = OpType::Conv;
  fb::NodeOptionsUnion options;
  std::vector<int32_t> inputs;   // -1: absent
  std::vector<int32_t> outputs;
  std::vector<PackedData> packed;  // plan PackedConstant entries of this node (layout views the FlatBuffer)
};

struct PartitionDesc {
  std::string backend;
  uint32_t first_node = 0;
  uint32_t num_nodes = 0;
  std::string reason;
  bool fp16_storage = false;  // Partition.fp16_storage: float32 tensors stored as float16 on the device
};

struct StateDesc {
  uint32_t input = 0;   // tensor index
  uint32_t output = 0;  // tensor index
};

enum LoadFlags : uint32_t {
  kLoadDefault = 0,
  kLoadCopy = 1u << 0,                 // copy a memory buffer instead of borrowing it
  kLoadSkipWeightChecksums = 1u << 1,  // trust the segments' bytes (faster load of large plans)
};

class Plan {
 public:
  // Maps the file read-only. The mapping lives as long as the Plan.
  static Result<std::shared_ptr<const Plan>> load_file(const std::string& path, uint32_t flags = kLoadDefault);
  // Borrows `data` (which must then outlive the Plan and be 64-byte aligned) unless kLoadCopy is
  // given or `data` is misaligned, in which case it is copied.
  static Result<std::shared_ptr<const Plan>> load_memory(const void* data, size_t size, uint32_t flags = kLoadDefault);

  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  const std::vector<NodeDesc>& nodes() const { return nodes_; }
  const std::vector<uint32_t>& inputs() const { return inputs_; }
  const std::vector<uint32_t>& outputs() const { return outputs_; }
  const std::vector<uint64_t>& arena_sizes() const { return arena_sizes_; }
  const std::vector<PartitionDesc>& partitions() const { return partitions_; }
  const std::vector<StateDesc>& states() const { return states_; }
  // The raw FlatBuffer (metadata, pass reports) for inspection tools.
  const fb::Plan* flatbuffer() const { return fb_; }
  size_t file_size() const { return size_; }
  uint64_t total_constant_bytes() const;
  // Lets the OS drop the resident pages of constant tensor `t` (the whole pages inside its byte
  // range) when the plan is a read-only private file mapping: they re-fault from the file if read
  // again, so this never changes what the plan holds. A no-op for borrowed or copied memory.
  void release_constant_pages(uint32_t t) const;

 private:
  Plan() = default;
  Status parse(uint32_t flags);
  // release_constant_pages for any byte range of a file mapping (no-op otherwise).
  void release_range(const void* data, uint64_t size) const;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;        // mmap base when file-backed
  void* owned_ = nullptr;          // aligned copy when copied
  const fb::Plan* fb_ = nullptr;
  std::vector<TensorDesc> tensors_;
  std::vector<NodeDesc> nodes_;
  std::vector<uint32_t> inputs_, outputs_;
  std::vector<uint64_t> arena_sizes_;
  std::vector<PartitionDesc> partitions_;
  std::vector<StateDesc> states_;
};

}  // namespace tern
