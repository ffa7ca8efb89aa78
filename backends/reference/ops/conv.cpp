// STUB: to be implemented.
#include "reference/kernel.h"

namespace tern::ref {

Status conv(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

Status conv_transpose(const KernelContext& ctx) { return ctx.unsupported("no reference kernel yet"); }

size_t conv_transpose_scratch(const KernelContext&) { return 0; }

}  // namespace tern::ref
