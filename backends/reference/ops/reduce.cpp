// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status reduce(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

Status arg_reduce(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

}  // namespace tern::ref
