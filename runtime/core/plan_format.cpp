#include "core/plan_format.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tern {

uint64_t plan_hash(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace tern
