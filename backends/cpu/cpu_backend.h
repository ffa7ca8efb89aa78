// The CPU backend: XNNPACK and Tern's own SIMD kernels for the ops that dominate inference time,
// the reference kernels for everything else (per-op fallback, decided at prepare).
#pragma once

#include <memory>

#include "backend.h"

namespace tern {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace tern
