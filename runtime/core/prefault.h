// Prefaulting of mapped read-only data (plan files).
#pragma once

#include <cstddef>

namespace tern {

// Maps the pages of [data, data + size) in now, in one call (Linux MADV_POPULATE_READ), rather than
// one page fault per 4 KiB page when they are first read: a mapped plan file's constants, where a
// fault costs microseconds under a hypervisor (tens of milliseconds over a large plan). Only a hint:
// memory that is not a mapping, or an older kernel, ignores it.
void prefault_read(const void* data, size_t size);

}  // namespace tern
