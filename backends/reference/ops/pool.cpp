// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status global_pool(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

Status pool(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

}  // namespace tern::ref
