// doctest main for every test binary. `--tern-backend=NAME` (or TERN_TEST_BACKEND=NAME) makes the op
// suite also run each node on backend NAME and compare it with the reference (support/harness.h);
// `--tern-isa=ISA` (or TERN_CPU_ISA=ISA) forces the CPU backend's micro-kernel variant;
// `--tern-vk-fp16` (or TERN_VK_FP16=1) runs the Vulkan backend with fp16 storage.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--tern-backend=", 15) == 0) setenv("TERN_TEST_BACKEND", argv[i] + 15, 1);
    else if (std::strncmp(argv[i], "--tern-isa=", 11) == 0) setenv("TERN_CPU_ISA", argv[i] + 11, 1);
    else if (std::strcmp(argv[i], "--tern-vk-fp16") == 0) setenv("TERN_VK_FP16", "1", 1);
  doctest::Context context(argc, argv);
  return context.run();
}
