// The Vulkan device every Vulkan executable of the process shares: instance, physical device
// choice, logical device and compute queue, plus buffer helpers and the counters tests read.
//
// The context is created lazily on first use (is_available / prepare) and shared through a
// weak pointer, so sessions created one after another reuse one device, and the device goes away
// with the last executable that uses it. Nothing here runs on the compiler's path: `supports`
// never touches a device.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"

namespace tern::vk {

// Process-wide counters of expensive or forbidden-at-run-time Vulkan calls (tests assert that
// `run` leaves every creation counter unchanged) and of validation messages.
struct Counters {
  std::atomic<uint64_t> memory_allocations{0};
  std::atomic<uint64_t> buffers{0};
  std::atomic<uint64_t> pipelines{0};
  std::atomic<uint64_t> descriptor_sets{0};
  std::atomic<uint64_t> command_buffers_recorded{0};
  std::atomic<uint64_t> submits{0};
  std::atomic<uint64_t> validation_messages{0};
};
Counters& counters();
// The first validation message seen since the last call (empty if none), and clears it.
std::string take_validation_message();

// A buffer with its own memory, persistently mapped when the memory is host-visible.
struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void* mapped = nullptr;
  bool host_coherent = false;
};

class Context {
 public:
  ~Context();
  // The shared context, created on first call; an error (never a crash) when there is no loader
  // or no device with a compute queue.
  static Result<std::shared_ptr<Context>> get();

  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkPhysicalDeviceProperties props{};
  VkPhysicalDeviceMemoryProperties memory{};
  bool timestamps = false;  // the queue family writes timestamps
  bool validation = false;  // VK_LAYER_KHRONOS_validation is on (TERN_VULKAN_VALIDATION=1)
  bool storage16 = false;   // storageBuffer16BitAccess enabled: the _fp16 shader variants can run
  bool storage8 = false;    // storageBuffer8BitAccess enabled (VK_KHR_8bit_storage): the int8 shaders can run
  std::mutex queue_mutex;   // vkQueueSubmit on one queue from several sessions

  // Device-local memory when the device has it (host-visible too on unified-memory devices and
  // lavapipe), host-visible memory when `host_visible`.
  Result<Buffer> create_buffer(VkDeviceSize size, bool host_visible);
  void destroy(Buffer& b);
  std::string device_name() const { return props.deviceName; }

 private:
  Context() = default;
  Status init();
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

// "vkFoo failed: VK_ERROR_..." helper.
const char* result_name(VkResult r);

}  // namespace tern::vk

#define TERN_VK_CHECK(call)                                                                              \
  do {                                                                                                 \
    VkResult tern_vk_r = (call);                                                                       \
    if (tern_vk_r != VK_SUCCESS)                                                                       \
      return TERN_ERROR(kInternal, "%s failed: %s", #call, ::tern::vk::result_name(tern_vk_r));        \
  } while (0)
