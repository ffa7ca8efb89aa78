#include <cstdio>
#include <string>

#include "commands.h"
#include "tern/tern.h"

namespace tern::cli {

namespace {
int g_exit_code = 0;
}

const char* version_string() {
  static std::string v = std::string("tern ") + tern_version();
  return v.c_str();
}
int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

void report_error(const char* cmd, const std::string& message) {
  std::fprintf(stderr, "tern %s: error: %s\n", cmd, message.c_str());
  g_exit_code = 1;
}

}  // namespace tern::cli
