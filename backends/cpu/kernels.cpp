// The CPU kernel table: which nodes get a specialized kernel. Everything else falls back to the
// reference kernels.
#include "cpu/cpu_kernel.h"

namespace tern::cpu {

Result<std::unique_ptr<CpuKernel>> create_kernel(const Context&, const NodeView&, std::span<const TensorRef* const>,
                                                 std::span<const TensorRef* const>, std::span<const uint8_t>) {
  return std::unique_ptr<CpuKernel>();
}

}  // namespace tern::cpu
