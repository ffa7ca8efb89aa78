#include "vulkan/vk_context.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace tern::vk {

Counters& counters() {
  static Counters c;
  return c;
}

namespace {

std::mutex g_message_mutex;
std::string g_first_message;

VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
                                          const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
  counters().validation_messages++;
  std::fprintf(stderr, "[tern vulkan validation] %s\n", data && data->pMessage ? data->pMessage : "(no text)");
  std::lock_guard<std::mutex> lock(g_message_mutex);
  if (g_first_message.empty()) g_first_message = data && data->pMessage ? data->pMessage : "(no text)";
  return VK_FALSE;
}

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// Discrete GPUs first, then integrated, virtual, CPU (lavapipe), other.
int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::mutex g_context_mutex;
std::weak_ptr<Context> g_context;

}  // namespace

std::string take_validation_message() {
  std::lock_guard<std::mutex> lock(g_message_mutex);
  std::string m;
  m.swap(g_first_message);
  return m;
}

const char* result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VK_ERROR (other)";
  }
}

Result<std::shared_ptr<Context>> Context::get() {
  std::lock_guard<std::mutex> lock(g_context_mutex);
  if (std::shared_ptr<Context> c = g_context.lock()) return c;
  std::shared_ptr<Context> c(new Context());
  TERN_RETURN_IF_ERROR(c->init());
  g_context = c;
  return c;
}

Status Context::init() {
  // The loader wants a runtime directory on some systems; an unset one only makes it noisy.
  if (!std::getenv("XDG_RUNTIME_DIR")) setenv("XDG_RUNTIME_DIR", "/tmp", 0);
  validation = env_on("TERN_VULKAN_VALIDATION");

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tern";
  app.apiVersion = VK_API_VERSION_1_1;
  std::vector<const char*> layers, extensions;
  if (validation) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> props_list(n);
    vkEnumerateInstanceLayerProperties(&n, props_list.data());
    bool found = false;
    for (const VkLayerProperties& l : props_list) found |= std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
    if (!found)
      return TERN_ERROR(kBackendUnavailable,
                        "TERN_VULKAN_VALIDATION is set but VK_LAYER_KHRONOS_validation is not installed (vulkan-validationlayers)");
    layers.push_back("VK_LAYER_KHRONOS_validation");
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  ici.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ici.ppEnabledExtensionNames = extensions.data();
  VkResult r = vkCreateInstance(&ici, nullptr, &instance);
  if (r != VK_SUCCESS) {
    instance = VK_NULL_HANDLE;
    return TERN_ERROR(kBackendUnavailable, "no Vulkan loader or driver (vkCreateInstance: %s)", result_name(r));
  }
  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
    VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mci.pfnUserCallback = on_message;
    if (!create || create(instance, &mci, nullptr, &messenger_) != VK_SUCCESS)
      return TERN_ERROR(kBackendUnavailable, "cannot install the Vulkan validation message callback");
  }

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance, &n, nullptr);
  std::vector<VkPhysicalDevice> devs(n);
  if (n) vkEnumeratePhysicalDevices(instance, &n, devs.data());
  // Candidates: devices with a compute queue. TERN_VULKAN_DEVICE picks one by index or by a
  // substring of its name; otherwise the best device type wins (GPUs before CPU emulations).
  const char* want = std::getenv("TERN_VULKAN_DEVICE");
  int best = -1, best_rank = 1 << 30;
  uint32_t best_family = 0;
  std::string names;
  for (uint32_t i = 0; i < n; ++i) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[i], &p);
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(devs[i], &nq, nullptr);
    std::vector<VkQueueFamilyProperties> q(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(devs[i], &nq, q.data());
    int family = -1;
    for (uint32_t f = 0; f < nq && family < 0; ++f)
      if (q[f].queueFlags & VK_QUEUE_COMPUTE_BIT) family = static_cast<int>(f);
    if (family < 0) continue;
    names += (names.empty() ? "" : ", ") + std::string(p.deviceName);
    int rank = type_rank(p.deviceType);
    if (want && *want) {
      char* end = nullptr;
      long idx = std::strtol(want, &end, 10);
      bool match = (end && *end == 0) ? idx == static_cast<long>(i) : std::strstr(p.deviceName, want) != nullptr;
      rank = match ? -1 : 1 << 20;
    }
    if (rank < best_rank) {
      best_rank = rank;
      best = static_cast<int>(i);
      best_family = static_cast<uint32_t>(family);
    }
  }
  if (best < 0) return TERN_ERROR(kBackendUnavailable, "no Vulkan device with a compute queue");
  if (want && *want && best_rank != -1)
    return TERN_ERROR(kBackendUnavailable, "TERN_VULKAN_DEVICE=%s matches no Vulkan device (have: %s)", want, names.c_str());
  physical = devs[static_cast<size_t>(best)];
  queue_family = best_family;
  vkGetPhysicalDeviceProperties(physical, &props);
  vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, nullptr);
    std::vector<VkQueueFamilyProperties> q(nq);
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &nq, q.data());
    timestamps = q[queue_family].timestampValidBits > 0 && props.limits.timestampPeriod > 0;
  }

  // 16-bit storage (core in Vulkan 1.1) for fp16 plans: enabled when the device has it; an fp16
  // partition on a device without it fails at prepare (vulkan_backend.cpp), never runs as fp32.
  VkPhysicalDevice16BitStorageFeatures f16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  if (VK_API_VERSION_MINOR(props.apiVersion) >= 1 || VK_API_VERSION_MAJOR(props.apiVersion) > 1) {
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f16;
    vkGetPhysicalDeviceFeatures2(physical, &f2);
  }
  storage16 = f16.storageBuffer16BitAccess == VK_TRUE;
  VkPhysicalDevice16BitStorageFeatures f16_on{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  f16_on.storageBuffer16BitAccess = VK_TRUE;

  // 8-bit storage (VK_KHR_8bit_storage; core only from Vulkan 1.2, and this instance asks for 1.1,
  // so through the extension) for int8 plans: the int8 shaders load and store int8 tensors
  // directly (arithmetic in int32, so shaderInt8 is not needed). An int8 partition on a device
  // without it fails at prepare with that reason (vulkan_backend.cpp), never runs otherwise.
  bool has_ext8 = false;
  {
    uint32_t ne = 0;
    vkEnumerateDeviceExtensionProperties(physical, nullptr, &ne, nullptr);
    std::vector<VkExtensionProperties> exts(ne);
    if (ne) vkEnumerateDeviceExtensionProperties(physical, nullptr, &ne, exts.data());
    for (const VkExtensionProperties& e : exts) has_ext8 |= std::strcmp(e.extensionName, VK_KHR_8BIT_STORAGE_EXTENSION_NAME) == 0;
  }
  VkPhysicalDevice8BitStorageFeaturesKHR f8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES_KHR};
  if (has_ext8 && (VK_API_VERSION_MINOR(props.apiVersion) >= 1 || VK_API_VERSION_MAJOR(props.apiVersion) > 1)) {
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f8;
    vkGetPhysicalDeviceFeatures2(physical, &f2);
  }
  storage8 = has_ext8 && f8.storageBuffer8BitAccess == VK_TRUE;
  VkPhysicalDevice8BitStorageFeaturesKHR f8_on{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES_KHR};
  f8_on.storageBuffer8BitAccess = VK_TRUE;
  std::vector<const char*> device_extensions;

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  const void* chain = nullptr;
  if (storage16) {
    f16_on.pNext = const_cast<void*>(chain);
    chain = &f16_on;
  }
  if (storage8) {
    f8_on.pNext = const_cast<void*>(chain);
    chain = &f8_on;
    device_extensions.push_back(VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
  }
  dci.pNext = chain;
  dci.enabledExtensionCount = static_cast<uint32_t>(device_extensions.size());
  dci.ppEnabledExtensionNames = device_extensions.data();
  r = vkCreateDevice(physical, &dci, nullptr, &device);
  if (r != VK_SUCCESS) {
    device = VK_NULL_HANDLE;
    return TERN_ERROR(kBackendUnavailable, "vkCreateDevice failed on %s: %s", props.deviceName, result_name(r));
  }
  vkGetDeviceQueue(device, queue_family, 0, &queue);
  return Status::ok();
}

Context::~Context() {
  if (device) {
    vkDeviceWaitIdle(device);
    vkDestroyDevice(device, nullptr);
  }
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance, messenger_, nullptr);
  }
  if (instance) vkDestroyInstance(instance, nullptr);
}

Result<Buffer> Context::create_buffer(VkDeviceSize size, bool host_visible) {
  Buffer b;
  b.size = size ? size : 16;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = b.size;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  TERN_VK_CHECK(vkCreateBuffer(device, &bci, nullptr, &b.buffer));
  counters().buffers++;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, b.buffer, &req);
  // Preference order: host-visible requests want HOST_VISIBLE|COHERENT (cached if offered);
  // device requests want DEVICE_LOCAL.
  int chosen = -1, chosen_score = -1;
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if (!(req.memoryTypeBits & (1u << i))) continue;
    VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    int score = 0;
    if (host_visible) {
      if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) || !(f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) continue;
      score = (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 1;
    } else {
      score = (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) ? 4 : 0;
      if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) score += 1;
    }
    if (score > chosen_score) {
      chosen_score = score;
      chosen = static_cast<int>(i);
    }
  }
  if (chosen < 0) {
    vkDestroyBuffer(device, b.buffer, nullptr);
    return TERN_ERROR(kOutOfMemory, "no suitable Vulkan memory type for a buffer of %llu bytes", static_cast<unsigned long long>(size));
  }
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = static_cast<uint32_t>(chosen);
  VkResult r = vkAllocateMemory(device, &mai, nullptr, &b.memory);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(device, b.buffer, nullptr);
    return TERN_ERROR(kOutOfMemory, "cannot allocate %llu bytes of Vulkan memory: %s", static_cast<unsigned long long>(req.size),
                      result_name(r));
  }
  counters().memory_allocations++;
  vkBindBufferMemory(device, b.buffer, b.memory, 0);
  VkMemoryPropertyFlags f = memory.memoryTypes[chosen].propertyFlags;
  if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
    b.host_coherent = true;
    r = vkMapMemory(device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped);
    if (r != VK_SUCCESS) b.mapped = nullptr, b.host_coherent = false;
  }
  return b;
}

void Context::destroy(Buffer& b) {
  if (b.mapped) vkUnmapMemory(device, b.memory);
  if (b.buffer) vkDestroyBuffer(device, b.buffer, nullptr);
  if (b.memory) vkFreeMemory(device, b.memory, nullptr);
  b = Buffer{};
}

}  // namespace tern::vk
