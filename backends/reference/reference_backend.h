// The reference backend: runs every node with the portable reference kernels.
#pragma once

#include <memory>

#include "backend.h"

namespace tern {

std::unique_ptr<Backend> make_reference_backend();

}  // namespace tern
