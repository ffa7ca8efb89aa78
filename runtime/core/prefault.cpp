#include "core/prefault.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace tern {

void prefault_read(const void* data, size_t size) {
#if defined(__linux__) && defined(MADV_POPULATE_READ)
  static const long page = sysconf(_SC_PAGESIZE);
  if (!data || size == 0 || page <= 0) return;
  const uintptr_t p = static_cast<uintptr_t>(page);
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data) / p * p;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data) + size;
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);  // (errors: left to faults)
#else
  (void)data;
  (void)size;
#endif
}

}  // namespace tern
