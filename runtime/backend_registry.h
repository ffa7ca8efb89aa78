// The explicit list of backends compiled into this build.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace tern {

// Creates the named backend ("reference", "cpu", "vulkan"); nullptr if not compiled in.
std::unique_ptr<Backend> make_backend(const std::string& name);
// Names of the backends compiled into this build, in order of preference for "auto".
std::vector<std::string> built_backends();

}  // namespace tern
