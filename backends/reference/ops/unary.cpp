// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status unary(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

}  // namespace tern::ref
