// The Vulkan compute backend (backends/backend.h). See vk_context.h for the device, vk_ops.h for
// how ops become shader dispatches, and vulkan_backend.cpp for the executable.
#pragma once

#include <cstdint>
#include <memory>

#include "backend.h"

namespace tern {

std::unique_ptr<Backend> make_vulkan_backend();

// Totals over every Vulkan executable of the process: GPU time measured with timestamp queries
// around each execute's command buffer, and the number of executes measured. tern bench reads the
// difference across its timed runs.
struct VulkanTimes {
  uint64_t gpu_ns = 0;
  uint64_t executes = 0;
};
VulkanTimes vulkan_times();

}  // namespace tern
