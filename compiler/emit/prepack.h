// `tern compile --prepack`: the CPU backend's packed weights, computed once at compile time and
// stored in the plan (plan PackedConstant), so that creating a session on a machine with the same
// micro-kernels does no weight packing: the kernels read the packed panels from the mapped file.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "emit/plan_writer.h"

namespace tern::compiler {

// Loads `plan` (bytes of build_plan), creates a CPU session on it (this machine's micro-kernels,
// one thread) and returns what each kernel packed, with its layout name.
Result<std::vector<PrepackedBlob>> collect_prepacked(const std::vector<uint8_t>& plan);

}  // namespace tern::compiler
