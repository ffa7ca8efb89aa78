#include "backend_registry.h"

#include "reference/reference_backend.h"
#ifdef TERN_WITH_CPU_BACKEND
#include "cpu/cpu_backend.h"
#endif
#ifdef TERN_WITH_VULKAN
#include "vulkan/vulkan_backend.h"
#endif

namespace tern {

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "reference") return make_reference_backend();
#ifdef TERN_WITH_CPU_BACKEND
  if (name == "cpu") return make_cpu_backend();
#endif
#ifdef TERN_WITH_VULKAN
  if (name == "vulkan") return make_vulkan_backend();
#endif
  return nullptr;
}

std::vector<std::string> built_backends() {
  std::vector<std::string> v;
#ifdef TERN_WITH_VULKAN
  v.push_back("vulkan");
#endif
#ifdef TERN_WITH_CPU_BACKEND
  v.push_back("cpu");
#endif
  v.push_back("reference");
  return v;
}

}  // namespace tern
