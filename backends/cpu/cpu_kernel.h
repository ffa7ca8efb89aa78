// CPU kernels: objects created at prepare (validation, weight packing, operator creation) and run
// many times without allocating.
#pragma once

#include <memory>
#include <cstdint>
#include <span>
#include <string_view>

#include "backend.h"
#include "core/prefault.h"
#include "core/status.h"
#include "cpu/threading.h"

namespace tern::cpu {

// What every kernel gets at create time. `threads` is owned by the executable and outlives every
// kernel created with it; kernels keep the pointer and run their parallel loops through it.
struct Context {
  int num_threads = 1;
  Threads* threads = nullptr;  // never null inside the CPU backend
};

class CpuKernel {
 public:
  virtual ~CpuKernel() = default;
  // Temporary memory run() needs; the backend passes one shared block of the largest size.
  virtual size_t scratch_bytes() const { return 0; }
  virtual Status run(void* scratch) = 0;
  // True when input `i` is a constant the kernel copied (packed) at create time and run() never
  // reads through its TensorRef; the backend then reports it through Subgraph::release_constant.
  virtual bool packed_input(size_t /*i*/) const { return false; }
  // The constant data this kernel packed at create time and its layout name (empty: none), which
  // `tern compile --prepack` stores in the plan (NodeView::packed); and whether this kernel runs on
  // such plan-provided data in place instead of a copy of its own.
  virtual std::string_view packed_layout() const { return {}; }
  virtual std::span<const uint8_t> packed_bytes() const { return {}; }
  virtual bool uses_prepacked() const { return false; }
};

// The node's prepacked data of exactly this layout and size (NodeView::packed), or null. The data
// found is prefaulted (the kernel reads all of it at every run; the loader dropped the pages of a
// mapped plan after checksumming them).
inline const void* find_prepacked(const NodeView& node, std::string_view layout, size_t size) {
  for (const PackedData& p : node.packed)
    if (p.layout == layout && p.size == size && reinterpret_cast<uintptr_t>(p.data) % 64 == 0) {
      tern::prefault_read(p.data, p.size);
      return p.data;
    }
  return nullptr;
}

// The explicit table of CPU kernels (backends/cpu/kernels.cpp). Returns nullptr (and OK) when the
// CPU backend has no specialized kernel for this node, so the reference kernel runs it.
Result<std::unique_ptr<CpuKernel>> create_kernel(const Context& ctx, const NodeView& node,
                                                 std::span<const TensorRef* const> inputs,
                                                 std::span<const TensorRef* const> outputs,
                                                 std::span<const uint8_t> is_constant);

}  // namespace tern::cpu
