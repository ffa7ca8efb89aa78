// The container around the FlatBuffer: a fixed 64-byte header, then the FlatBuffer, then the
// 64-byte-aligned constant segments (see schemas/plan.fbs for the whole layout).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern {

// Revision of the FlatBuffer schema's meaning (Plan.version).
constexpr uint32_t kPlanVersion = 1;
// Revision of the container (FileHeader.format_version).
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kSegmentAlignment = 64;
constexpr char kPlanMagic[8] = {'T', 'E', 'R', 'N', 'P', 'L', 'A', 'N'};

struct FileHeader {
  char magic[8];              // kPlanMagic
  uint32_t format_version;    // kFormatVersion
  uint32_t flags;             // reserved, 0
  uint64_t flatbuffer_offset; // 64
  uint64_t flatbuffer_size;
  uint64_t flatbuffer_hash;   // plan_hash() of the FlatBuffer bytes
  uint64_t file_size;         // total bytes, including the trailing segments
  uint64_t reserved[2];
};
static_assert(sizeof(FileHeader) == 64, "the plan header is 64 bytes");

// XXH3-64 (seed 0) of a byte range: the checksum of the FlatBuffer and of every segment.
uint64_t plan_hash(const void* data, size_t size);

inline size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

}  // namespace tern
