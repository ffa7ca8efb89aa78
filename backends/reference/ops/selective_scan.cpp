// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status selective_scan(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

size_t selective_scan_scratch(const KernelContext&) { return 0; }

}  // namespace tern::ref
