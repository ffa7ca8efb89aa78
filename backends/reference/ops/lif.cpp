// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status lif(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

size_t lif_scratch(const KernelContext&) { return 0; }

}  // namespace tern::ref
